using Offload.Actors.Sharding;
using Offload.Actors.Tests.TestKit;
using Offload.Protocol;
using Xunit;
using static Offload.Actors.Tests.Sharding.ShardingTestEntities;

namespace Offload.Actors.Tests.Sharding;

public sealed class ShardRegionTests
{
    private static readonly StableHashMessageExtractor Extractor = new(10);

    internal static Task<ShardRegion.CurrentShardRegionState> State(IActorRef region) =>
        region.Ask<ShardRegion.CurrentShardRegionState>(ShardRegion.GetShardRegionState.Instance, Timeout.InfiniteTimeSpan)
            .WaitAsync(ActorTestKit.SafetyTimeout);

    internal static Task<ShardCoordinator.CurrentAllocations> Allocations(IActorRef coordinator) =>
        coordinator.Ask<ShardCoordinator.CurrentAllocations>(ShardCoordinator.GetCurrentAllocations.Instance, Timeout.InfiniteTimeSpan)
            .WaitAsync(ActorTestKit.SafetyTimeout);

    [Fact]
    public void Messages_reach_one_entity_instance_through_any_region()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "route", new MostFreeMemoryAllocationStrategy(GiB));
        var big = ClusterSharding.StartRegion(kit.System, "route", "big", EntityProps(probe.Ref), Extractor, coordinator, 8 * GiB);
        var small = ClusterSharding.StartRegion(kit.System, "route", "small", EntityProps(probe.Ref), Extractor, coordinator, 2 * GiB);
        kit.Settle();

        small.Tell(To("e1", new Hello("via small")));
        var first = probe.ExpectMsg<Seen>();
        Assert.Equal(("e1", "via small", 1), (first.Entity, first.Text, first.Incarnation));
        Assert.StartsWith(big.Path + "/", first.Path); // allocated to the region with more free memory
        big.Tell(To("e1", new Hello("via big")));
        Assert.Equal(first with { Text = "via big" }, probe.ExpectMsg<Seen>());
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1101 && e.Message.Contains(big.Path));
    }

    [Fact]
    public async Task A_region_buffers_while_the_shard_has_no_home_then_delivers_in_order()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var coordinator = kit.CreateTestProbe("coordinator-stand-in");
        var region = ClusterSharding.StartRegion(kit.System, "buffer", "r", EntityProps(probe.Ref), Extractor, coordinator.Ref, 4 * GiB);
        var register = coordinator.ExpectMsg<ShardCoordinator.Register>();
        Assert.Equal((region, 4 * GiB), (register.Region, register.FreeMemoryBytes));
        coordinator.Reply(new ShardCoordinator.RegisterAck(coordinator.Ref));

        for (var i = 1; i <= 5; i++) region.Tell(To("e1", new Hello($"m{i}")));
        var shard = Extractor.GetShardId(new EntityId("e1"));
        coordinator.ExpectMsg(new ShardCoordinator.GetShardHome(shard)); // asked once, not per message
        coordinator.ExpectNoMsg();
        probe.ExpectNoMsg();
        var before = await State(region);
        Assert.Equal((0, 5), (before.Shards.Count, before.BufferedMessages));

        coordinator.Reply(new ShardCoordinator.ShardHome(shard, region));
        for (var i = 1; i <= 5; i++) Assert.Equal($"m{i}", probe.ExpectMsg<Seen>().Text);
        probe.ExpectNoMsg();
        var after = await State(region);
        Assert.Equal([shard], after.Shards);
        Assert.Equal(0, after.BufferedMessages);
    }

    [Fact]
    public void A_region_that_is_not_yet_registered_asks_for_homes_after_its_retry()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var coordinator = kit.CreateTestProbe("late-coordinator");
        var settings = new ShardingSettings { RetryInterval = TimeSpan.FromSeconds(2) };
        var region = ClusterSharding.StartRegion(kit.System, "retry", "r", EntityProps(probe.Ref), Extractor, coordinator.Ref, GiB, settings);
        coordinator.ExpectMsg<ShardCoordinator.Register>(); // lost: no ack
        region.Tell(To("e1", new Hello("early")));
        coordinator.ExpectNoMsg(TimeSpan.FromSeconds(1.9));
        kit.Advance(TimeSpan.FromSeconds(0.1));
        coordinator.ExpectMsg<ShardCoordinator.Register>(); // retried
        coordinator.Reply(new ShardCoordinator.RegisterAck(coordinator.Ref));
        var ask = coordinator.ExpectMsg<ShardCoordinator.GetShardHome>();
        coordinator.Reply(new ShardCoordinator.ShardHome(ask.Shard, region));
        Assert.Equal("early", probe.ExpectMsg<Seen>().Text);
    }

    [Fact]
    public void Messages_beyond_the_buffer_are_dead_lettered_with_the_reason()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var letters = kit.CreateTestProbe();
        kit.System.EventStream.Subscribe<DeadLetter>(letters.Ref);
        var coordinator = kit.CreateTestProbe("silent-coordinator");
        var region = ClusterSharding.StartRegion(kit.System, "overflow", "r", EntityProps(probe.Ref), Extractor, coordinator.Ref, GiB,
            new ShardingSettings { BufferSize = 3 });
        for (var i = 1; i <= 5; i++) region.Tell(To("e1", new Hello($"m{i}")));
        var dropped = letters.ReceiveN(2).Cast<DeadLetter>().ToList();
        Assert.Equal([To("e1", new Hello("m4")), To("e1", new Hello("m5"))], dropped.Select(d => d.Message));
        Assert.All(dropped, d => Assert.Contains("buffer full (3 messages)", d.Reason));
        Assert.Equal(2, kit.Logs.Entries.Count(e => e.EventId.Id == 1100));
        letters.ExpectNoMsg();
    }

    [Fact]
    public void A_message_without_an_entity_id_is_dead_lettered()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var letters = kit.CreateTestProbe();
        kit.System.EventStream.Subscribe<DeadLetter>(letters.Ref);
        var coordinator = kit.CreateTestProbe("unused-coordinator");
        var region = ClusterSharding.StartRegion(kit.System, "noid", "r", EntityProps(probe.Ref), Extractor, coordinator.Ref, GiB);
        region.Tell(new Hello("to whom?"));
        var letter = letters.ExpectMsg<DeadLetter>();
        Assert.Contains("no entity id for a Hello", letter.Reason);
    }

    [Fact]
    public void A_shard_waits_until_a_region_has_room_then_its_buffer_is_delivered_in_order()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "room", new MostFreeMemoryAllocationStrategy(4 * GiB, requireFit: true));
        var region = ClusterSharding.StartRegion(kit.System, "room", "r", EntityProps(probe.Ref), Extractor, coordinator, GiB);
        for (var i = 1; i <= 3; i++) region.Tell(To("e1", new Hello($"m{i}")));
        probe.ExpectNoMsg();
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1102);

        region.Tell(new ShardRegion.UpdateFreeMemory(16 * GiB));
        Assert.Equal(["m1", "m2", "m3"], probe.ReceiveN(3).Cast<Seen>().Select(s => s.Text));
    }

    [Fact]
    public async Task Shards_are_allocated_by_free_device_memory()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "memory", new MostFreeMemoryAllocationStrategy(3 * GiB));
        var a = ClusterSharding.StartRegion(kit.System, "memory", "a", EntityProps(probe.Ref), Extractor, coordinator, 2 * GiB);
        var b = ClusterSharding.StartRegion(kit.System, "memory", "b", EntityProps(probe.Ref), Extractor, coordinator, 8 * GiB);
        var c = ClusterSharding.StartRegion(kit.System, "memory", "c", EntityProps(probe.Ref), Extractor, coordinator, 4 * GiB);
        kit.Settle();
        var entities = EntitiesInDistinctShards(Extractor, 4);
        foreach (var entity in entities)
        {
            a.Tell(To(entity, new Hello("x")));
            probe.ExpectMsg<Seen>(); // one allocation at a time, in this order
        }
        // projected free (3 GiB per shard): 1st b (8), 2nd b (5), 3rd c (4), 4th tie a/b at 2 GiB → a (fewer shards)
        var expected = new[] { b, b, c, a };
        var allocations = await Allocations(coordinator);
        for (var i = 0; i < entities.Length; i++)
            Assert.Same(expected[i], allocations.Homes[Extractor.GetShardId(new EntityId(entities[i]))]);
    }

    [Fact]
    public void Shards_of_a_stopped_region_are_allocated_again_elsewhere()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "failover", new MostFreeMemoryAllocationStrategy(GiB));
        var entityProps = EntityProps(probe.Ref); // one incarnation counter for both regions
        var big = ClusterSharding.StartRegion(kit.System, "failover", "big", entityProps, Extractor, coordinator, 8 * GiB);
        var small = ClusterSharding.StartRegion(kit.System, "failover", "small", entityProps, Extractor, coordinator, 2 * GiB);
        kit.Settle();
        small.Tell(To("e1", new Hello("one")));
        Assert.StartsWith(big.Path + "/", probe.ExpectMsg<Seen>().Path);
        kit.System.Stop(big);
        probe.ExpectMsg(new Stopped("e1", 1));
        kit.Settle();
        small.Tell(To("e1", new Hello("two")));
        var seen = probe.ExpectMsg<Seen>();
        Assert.Equal(("two", 2), (seen.Text, seen.Incarnation));
        Assert.StartsWith(small.Path + "/", seen.Path);
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1107 && e.Message.Contains(big.Path));
    }
}
