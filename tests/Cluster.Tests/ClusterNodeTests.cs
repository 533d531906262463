using Offload.Actors;
using Offload.Actors.Cluster;
using Offload.Protocol;
using Offload.Protocol.Cluster;

namespace Offload.Cluster.Tests;

/// <summary>Three in-process nodes (both roles) on the shared broker: membership, allocation, down, leave, failover.</summary>
[Collection(BrokerCollection.Name)]
public sealed class ClusterNodeTests(BrokerFixture fixture)
{
    private const string Type = "echo";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>Answers RunLayer with LayerDone naming the node that ran it.</summary>
    private sealed class EchoEntity : ReceiveActor
    {
        public EchoEntity(string node, EntityId id) =>
            Receive<RunLayer>(m => Sender.Tell(new LayerDone { JobId = id.Value, Layer = m.Layer, Attempt = m.Attempt, NodeId = node }, Self));
    }

    private async Task<List<ClusterNode>> StartNodesAsync(ClusterSettings settings, params string[] ids)
    {
        var nodes = new List<ClusterNode>();
        foreach (var id in ids)
        {
            nodes.Add(await ClusterNode.StartAsync(new ClusterNodeOptions(settings with { NodeId = id })
            {
                EntityTypes = [new ClusterEntityType(Type, e => Props.Create(() => new EchoEntity(id, e)))],
                Devices = () => [new DeviceInventory { Device = "cpu:0", MemoryBytes = 1L << 30, FreeBytes = 1L << 30 }],
            }));
        }
        await Task.WhenAll(nodes.Select(n => n.Joined)).WaitAsync(Wait);
        return nodes;
    }

    private static async Task<string> AskNodeAsync(ClusterClient client, string entity, int layer = 0)
    {
        var reply = await client.AskEntityAsync(Type, entity, new RunLayer { Layer = layer }, Wait);
        return ((LayerDone)reply.Payload).NodeId;
    }

    [Fact]
    public async Task Every_entity_answers_from_the_node_its_shard_is_allocated_to()
    {
        var settings = TestCluster.Settings(fixture.Broker);
        var nodes = await StartNodesAsync(settings, "a", "b", "c");
        try
        {
            await using var client = await ClusterClient.ConnectAsync(settings);
            var answers = new Dictionary<string, string>();
            for (var i = 0; i < 24; i++) answers[$"e{i}"] = await AskNodeAsync(client, $"e{i}", i);
            var state = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            Assert.Equal(new[] { "a", "b", "c" }, state.Members.Select(m => m.NodeId));
            Assert.All(state.Members, m => Assert.Equal(MemberStatus.Up, m.Status));
            foreach (var (entity, node) in answers)
            {
                var shard = client.ShardOf(entity);
                Assert.Equal(state.Allocations.Single(a => a.EntityType == Type && a.Shard == shard).NodeId, node);
            }
            // Equal free memory: placement spreads the shards (fewer shards wins a tie).
            var perNode = state.Allocations.GroupBy(a => a.NodeId).ToDictionary(g => g.Key, g => g.Count());
            Assert.True(perNode.Values.Max() - perNode.Values.Min() <= 1, string.Join(", ", perNode));
            // A shard is hosted by exactly the node it is allocated to.
            foreach (var a in state.Allocations)
                Assert.Contains($"{Type}/{a.Shard}", nodes.Single(n => n.NodeId == a.NodeId).HostedShards);
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    [Fact]
    public async Task With_queue_type_quorum_the_shard_and_coordinator_queues_are_quorum_queues_and_entities_answer()
    {
        var settings = TestCluster.Settings(fixture.Broker) with { QueueType = QueueKind.Quorum };
        var nodes = await StartNodesAsync(settings, "q1");
        try
        {
            await using var client = await ClusterClient.ConnectAsync(settings);
            Assert.Equal("q1", await AskNodeAsync(client, "e0"));
            var (code, output) = await fixture.Broker.CtlAsync(["list_queues", "name", "type", "--no-table-headers", "--quiet"]);
            Assert.Equal(0, code);
            var types = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('\t', StringSplitOptions.TrimEntries)).Where(p => p.Length == 2 && p[0].StartsWith(settings.ClusterName + ".", StringComparison.Ordinal))
                .ToDictionary(p => p[0], p => p[1]);
            Assert.Equal("quorum", types[$"{settings.ClusterName}.coordinator"]);
            Assert.Equal("quorum", types[$"{settings.ClusterName}.shard.{Type}.{client.ShardOf("e0")}"]);
            Assert.Equal("stream", types[$"{settings.ClusterName}.journal"]);
            Assert.Equal("classic", types[$"{settings.ClusterName}.node.q1"]);
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_node_that_stops_heartbeating_is_declared_down_and_messages_waiting_for_its_shards_are_handled_elsewhere()
    {
        var settings = TestCluster.Settings(fixture.Broker);
        var nodes = await StartNodesAsync(settings, "a", "b", "c");
        try
        {
            await using var client = await ClusterClient.ConnectAsync(settings);
            for (var i = 0; i < 12; i++) await AskNodeAsync(client, $"e{i}");
            var victim = nodes.First(n => n.Coordinator is { IsActive: false } && n.HostedShards.Count > 0);
            var victimShards = victim.HostedShards.Select(s => int.Parse(s.Split('/')[1])).ToHashSet();
            var entities = Enumerable.Range(0, 200).Select(i => $"x{i}").Where(e => victimShards.Contains(client.ShardOf(e))).Take(5).ToList();
            Assert.NotEmpty(entities);

            await victim.DisposeAsync(); // gone without a leave: no more heartbeats
            // Sent while the victim is gone but not yet declared down: they wait in the shards' queues.
            var answers = entities.Select(e => AskNodeAsync(client, e, 1)).ToList();
            var who = await Task.WhenAll(answers).WaitAsync(Wait);
            Assert.All(who, n => Assert.NotEqual(victim.NodeId, n));

            var state = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            Assert.Equal(MemberStatus.Down, state.Members.Single(m => m.NodeId == victim.NodeId).Status);
            Assert.DoesNotContain(state.Allocations, a => a.NodeId == victim.NodeId);
            Assert.Superset(victimShards, state.Allocations.Select(a => a.Shard).ToHashSet());
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_graceful_leave_hands_every_shard_off_and_the_entities_answer_from_the_other_nodes()
    {
        var settings = TestCluster.Settings(fixture.Broker);
        var nodes = await StartNodesAsync(settings, "a", "b", "c");
        try
        {
            await using var client = await ClusterClient.ConnectAsync(settings);
            var entities = Enumerable.Range(0, 16).Select(i => $"e{i}").ToList();
            foreach (var e in entities) await AskNodeAsync(client, e);
            var leaver = nodes.First(n => n.HostedShards.Count > 0);
            var moved = leaver.HostedShards.Count;

            Assert.True(await leaver.LeaveAsync(Wait));
            Assert.Empty(leaver.HostedShards);
            var state = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            Assert.Equal(MemberStatus.Removed, state.Members.Single(m => m.NodeId == leaver.NodeId).Status);
            Assert.DoesNotContain(state.Allocations, a => a.NodeId == leaver.NodeId);
            foreach (var e in entities) Assert.NotEqual(leaver.NodeId, await AskNodeAsync(client, e, 2));
            Assert.True(moved > 0);
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    [Fact]
    public async Task When_the_coordinator_node_dies_another_takes_over_from_the_journal()
    {
        var settings = TestCluster.Settings(fixture.Broker);
        var nodes = await StartNodesAsync(settings, "a", "b", "c");
        try
        {
            await using var client = await ClusterClient.ConnectAsync(settings);
            for (var i = 0; i < 12; i++) await AskNodeAsync(client, $"e{i}");
            await client.AskCoordinatorAsync<JobAccepted>(new SubmitJob { Spec = new JobSpec { JobId = "job-1", Layers = 3, Fingerprint = "f" } }, Wait);
            await client.TellCoordinatorAsync(new LayerCommitted { JobId = "job-1", Layer = 0 });
            var before = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            var old = nodes.Single(n => n.NodeId == before.CoordinatorNode);

            await old.DisposeAsync();
            var after = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            Assert.NotEqual(before.CoordinatorNode, after.CoordinatorNode);
            Assert.True(after.CoordinatorEpoch > before.CoordinatorEpoch);
            // Allocations of the surviving nodes come back unchanged from the journal.
            foreach (var a in before.Allocations.Where(a => a.NodeId != old.NodeId))
                Assert.Contains(after.Allocations, b => b.Shard == a.Shard && b.NodeId == a.NodeId && b.Allocation == a.Allocation);
            // The job's progress too: layer 0 is committed, layer 1 is next.
            var job = await client.AskCoordinatorAsync<JobAccepted>(new SubmitJob { Spec = new JobSpec { JobId = "job-1", Layers = 3, Fingerprint = "f" } }, Wait);
            Assert.Equal(1, job.NextLayer);
            // The dead coordinator's node is declared down and its entities answer from the others.
            foreach (var e in Enumerable.Range(0, 12).Select(i => $"e{i}")) Assert.NotEqual(old.NodeId, await AskNodeAsync(client, e, 3));
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }
}
