using Offload.Actors.Sharding;
using Offload.Actors.Tests.TestKit;
using Offload.Protocol;
using Xunit;
using static Offload.Actors.Tests.Sharding.ShardingTestEntities;

namespace Offload.Actors.Tests.Sharding;

public sealed class HandOffAndPassivationTests
{
    private static readonly StableHashMessageExtractor Extractor = new(10);

    [Fact]
    public async Task Rebalance_hands_a_shard_off_to_the_region_with_more_memory_with_the_messages_sent_meanwhile()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var settings = new ShardingSettings { RebalanceInterval = TimeSpan.FromSeconds(10), HandOffStopMessage = new StopSlowly() };
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "move", new MostFreeMemoryAllocationStrategy(2 * GiB), settings);
        var entityProps = EntityProps(probe.Ref);
        var poor = ClusterSharding.StartRegion(kit.System, "move", "poor", entityProps, Extractor, coordinator, GiB, settings);
        poor.Tell(To("e1", new Hello("one")));
        Assert.StartsWith(poor.Path + "/", probe.ExpectMsg<Seen>().Path);

        var rich = ClusterSharding.StartRegion(kit.System, "move", "rich", entityProps, Extractor, coordinator, 16 * GiB, settings);
        kit.Advance(TimeSpan.FromSeconds(10)); // rebalance tick: poor projects 1 − 2 = −1 GiB, rich 16 GiB → move the shard
        var shard = Extractor.GetShardId(new EntityId("e1"));
        var during = await ShardRegionTests.Allocations(coordinator);
        Assert.Contains(shard, during.HandOffsInProgress); // the entity is stopping slowly (1 s of manual time)

        poor.Tell(To("e1", new Hello("two")));
        poor.Tell(To("e1", new Hello("three")));
        rich.Tell(To("e1", new Hello("four")));
        probe.ExpectNoMsg(); // buffered in both regions while the shard has no home

        kit.Advance(TimeSpan.FromSeconds(1));
        probe.ExpectMsg(new Stopped("e1", 1));
        var delivered = probe.ReceiveN(3).Cast<Seen>().ToList();
        Assert.All(delivered, s => Assert.Equal(2, s.Incarnation));
        Assert.All(delivered, s => Assert.StartsWith(rich.Path + "/", s.Path));
        Assert.Equal(["two", "three"], delivered.Select(s => s.Text).Where(t => t != "four")); // one sender's order kept
        Assert.Contains("four", delivered.Select(s => s.Text));

        var after = await ShardRegionTests.Allocations(coordinator);
        Assert.Same(rich, after.Homes[shard]);
        Assert.Empty(after.HandOffsInProgress);
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1103 && e.Message.Contains(poor.Path));
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1104);
        probe.ExpectNoMsg(TimeSpan.FromSeconds(30)); // balanced now: later rebalance ticks move nothing
    }

    [Fact]
    public async Task A_handoff_that_does_not_finish_in_time_leaves_the_shard_where_it_was()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var mute = kit.CreateTestProbe("mute-proxy"); // registers as a proxy and never acknowledges BeginHandOff
        var settings = new ShardingSettings { RebalanceInterval = TimeSpan.FromSeconds(10), HandOffTimeout = TimeSpan.FromSeconds(20) };
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "stuck", new MostFreeMemoryAllocationStrategy(2 * GiB), settings);
        mute.Send(coordinator, new ShardCoordinator.RegisterProxy(mute.Ref));
        mute.ExpectMsg<ShardCoordinator.RegisterAck>();
        var poor = ClusterSharding.StartRegion(kit.System, "stuck", "poor", EntityProps(probe.Ref), Extractor, coordinator, GiB, settings);
        poor.Tell(To("e1", new Hello("one")));
        probe.ExpectMsg<Seen>();
        ClusterSharding.StartRegion(kit.System, "stuck", "rich", EntityProps(probe.Ref), Extractor, coordinator, 16 * GiB, settings);
        kit.Advance(TimeSpan.FromSeconds(10)); // handoff starts at t = 10 s and waits for the mute proxy
        var shard = Extractor.GetShardId(new EntityId("e1"));
        mute.ExpectMsg(new ShardCoordinator.BeginHandOff(shard));
        poor.Tell(To("e1", new Hello("waiting")));
        probe.ExpectNoMsg(TimeSpan.FromSeconds(19.9));
        kit.Advance(TimeSpan.FromSeconds(0.1)); // t = 30 s: timeout; the waiting message goes to the old home
        var seen = probe.ExpectMsg<Seen>();
        Assert.Equal(("waiting", 1), (seen.Text, seen.Incarnation));
        Assert.StartsWith(poor.Path + "/", seen.Path);
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1105);
        var allocations = await ShardRegionTests.Allocations(coordinator);
        Assert.Same(poor, allocations.Homes[shard]);
        Assert.Empty(allocations.HandOffsInProgress);
    }

    [Fact]
    public void Passivation_buffers_messages_and_delivers_them_to_a_fresh_incarnation()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "passivate", new MostFreeMemoryAllocationStrategy(GiB));
        var region = ClusterSharding.StartRegion(kit.System, "passivate", "r", EntityProps(probe.Ref), Extractor, coordinator, 4 * GiB);
        region.Tell(To("e1", new Hello("a")));
        Assert.Equal(1, probe.ExpectMsg<Seen>().Incarnation);
        region.Tell(To("e1", new PassivateMe()));
        kit.Settle(); // the shard now buffers for e1, which stops in 1 s of manual time
        region.Tell(To("e1", new Hello("b")));
        region.Tell(To("e1", new Hello("c")));
        probe.ExpectNoMsg();

        kit.Advance(TimeSpan.FromSeconds(1));
        probe.ExpectMsg(new Stopped("e1", 1));
        var next = probe.ReceiveN(2).Cast<Seen>().ToList();
        Assert.Equal([("b", 2), ("c", 2)], next.Select(s => (s.Text, s.Incarnation)));
        probe.ExpectNoMsg();
    }

    [Fact]
    public void Idle_entities_are_passivated_after_the_idle_time()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var settings = new ShardingSettings { PassivateIdleEntityAfter = TimeSpan.FromSeconds(30) };
        var coordinator = ClusterSharding.StartCoordinator(kit.System, "idle", new MostFreeMemoryAllocationStrategy(GiB), settings);
        var region = ClusterSharding.StartRegion(kit.System, "idle", "r", EntityProps(probe.Ref), Extractor, coordinator, 4 * GiB, settings);
        region.Tell(To("e1", new Hello("a")));
        probe.ExpectMsg<Seen>();
        probe.ExpectNoMsg(TimeSpan.FromSeconds(29));
        kit.Advance(TimeSpan.FromSeconds(1)); // idle checks run every 15 s: the one at 30 s finds e1 idle for 30 s
        probe.ExpectMsg(new Stopped("e1", 1));
        region.Tell(To("e1", new Hello("b")));
        Assert.Equal(("b", 2), probe.ExpectMsg<Seen>() is var s ? (s.Text, s.Incarnation) : default);
    }
}
