using Offload.Actors.Cluster;
using Offload.Protocol.Cluster;

namespace Offload.Cluster.Tests;

public sealed class CoordinatorStateTests
{
    private static CoordinatorEvent Marker(string node) => new() { Takeover = new TakeoverMarker { NodeId = node, MarkerId = node } };

    private static CoordinatorEvent Allocated(long epoch, int shard, string node, long allocation) =>
        new() { Epoch = epoch, ShardAllocated = new ShardAllocated { EntityType = "layer", Shard = shard, NodeId = node, Allocation = allocation } };

    [Fact]
    public void Replay_rebuilds_members_allocations_and_job_progress()
    {
        var s = new CoordinatorState();
        s.Apply(Marker("a"));
        s.Apply(new CoordinatorEvent { Epoch = 1, MemberUp = new Member { NodeId = "a", Incarnation = 1, Roles = { "worker" } } });
        s.Apply(new CoordinatorEvent { Epoch = 1, MemberUp = new Member { NodeId = "b", Incarnation = 7, Roles = { "worker" } } });
        s.Apply(Allocated(1, 0, "a", 1));
        s.Apply(Allocated(1, 5, "b", 2));
        s.Apply(new CoordinatorEvent { Epoch = 1, ShardDeallocated = new ShardDeallocated { EntityType = "layer", Shard = 0, Reason = "handoff" } });
        s.Apply(Allocated(1, 0, "b", 3));
        s.Apply(new CoordinatorEvent { Epoch = 1, MemberStatus = new MemberStatusChanged { NodeId = "a", Incarnation = 1, Status = MemberStatus.Removed } });
        s.Apply(new CoordinatorEvent { Epoch = 1, MemberStatus = new MemberStatusChanged { NodeId = "b", Incarnation = 6, Status = MemberStatus.Down } }); // another incarnation: no effect
        s.Apply(new CoordinatorEvent { Epoch = 1, JobSubmitted = new JobSpec { JobId = "j", Layers = 4 } });
        foreach (var l in new[] { 0, 1, 3 }) s.Apply(new CoordinatorEvent { Epoch = 1, LayerCommitted = new LayerCommitted { JobId = "j", Layer = l } });

        Assert.Equal(1, s.Epoch);
        Assert.Equal(MemberStatus.Removed, s.Members["a"].Status);
        Assert.Equal(MemberStatus.Up, s.Members["b"].Status);
        Assert.Equal(new[] { 5, 0 }, s.ShardsOf("b").Select(a => a.Shard)); // allocation order
        Assert.Empty(s.ShardsOf("a"));
        Assert.Equal(3, s.LastAllocation);
        Assert.Equal(2, s.Jobs["j"].NextLayer); // layer 2 is missing
    }

    [Fact]
    public void Events_a_deposed_coordinator_wrote_after_a_newer_takeover_are_fenced_off()
    {
        var s = new CoordinatorState();
        s.Apply(Marker("a"));                  // epoch 1: a
        s.Apply(Allocated(1, 0, "a", 1));
        s.Apply(Marker("b"));                  // epoch 2: b took over
        Assert.False(s.Apply(Allocated(1, 1, "a", 2))); // a's late write
        Assert.True(s.Apply(Allocated(2, 2, "b", 3)));
        Assert.Equal(2, s.Epoch);
        Assert.Equal(1, s.Fenced);
        Assert.False(s.Allocations.ContainsKey(("layer", 1)));
        Assert.Equal("b", s.Allocations[("layer", 2)].NodeId);
        Assert.Equal("a", s.Allocations[("layer", 0)].NodeId);
    }

    [Fact]
    public void Placement_takes_the_worker_with_the_most_projected_free_memory_then_fewer_shards_then_the_lower_id()
    {
        const long gib = 1L << 30;
        var members = new[]
        {
            Worker("c", 2 * gib),
            Worker("a", 8 * gib),
            Worker("b", 4 * gib),
            new Member { NodeId = "z", Status = MemberStatus.Up, Roles = { "coordinator" }, Devices = { new DeviceInventory { FreeBytes = 100 * gib } } },
            new Member { NodeId = "y", Status = MemberStatus.Leaving, Roles = { "worker" }, Devices = { new DeviceInventory { FreeBytes = 100 * gib } } },
        };
        var counts = new Dictionary<string, int>();
        var picks = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var node = ShardPlacement.Choose(members, n => counts.GetValueOrDefault(n), gib)!;
            counts[node] = counts.GetValueOrDefault(node) + 1;
            picks.Add(node);
        }
        // Projected free (GiB) before each pick — a:8 b:4 c:2; a:7; a:6; a:5; a:4=b:4 → b (fewer shards); a:4 vs b:3 → a;
        // a:3=b:3 → b (1 shard vs 5); a:3 b:2 c:2 → a.
        Assert.Equal(new[] { "a", "a", "a", "a", "b", "a", "b", "a" }, picks);
        Assert.Null(ShardPlacement.Choose(members.Where(m => m.NodeId is "z" or "y"), _ => 0, gib));
    }

    private static Member Worker(string id, long free) => new()
    {
        NodeId = id,
        Status = MemberStatus.Up,
        Roles = { "worker", "coordinator" },
        Devices = { new DeviceInventory { Device = "cpu:0", MemoryBytes = free, FreeBytes = free } },
    };
}
