using Offload.Actors.Sharding;
using Offload.Actors.Tests.TestKit;
using Offload.Protocol;
using Xunit;

namespace Offload.Actors.Tests.Sharding;

public sealed class AllocationStrategyTests
{
    private const long GiB = 1L << 30;

    private sealed class Idle : ReceiveActor
    {
        public Idle() => ReceiveAny(_ => { });
    }

    private static ShardId[] Shards(params int[] ids) => ids.Select(i => new ShardId(i)).ToArray();

    [Fact]
    public void Allocation_goes_to_the_most_projected_free_memory_then_fewer_shards()
    {
        using var kit = new ActorTestKit();
        var a = kit.System.ActorOf(Props.Create<Idle>(), "region-a");
        var b = kit.System.ActorOf(Props.Create<Idle>(), "region-b");
        var c = kit.System.ActorOf(Props.Create<Idle>(), "region-c");
        var strategy = new MostFreeMemoryAllocationStrategy(3 * GiB);

        // projected = free − shards × 3 GiB: a 2, b 8 − 3 = 5, c 4 → b
        Assert.Same(b, strategy.AllocateShard(a, new ShardId(9), [new(a, 2 * GiB, []), new(b, 8 * GiB, Shards(1)), new(c, 4 * GiB, [])]));
        // a 2, b 8 − 6 = 2, c 4 − 3 = 1 → tie a/b at 2 GiB: a has fewer shards
        Assert.Same(a, strategy.AllocateShard(c, new ShardId(9), [new(a, 2 * GiB, []), new(b, 8 * GiB, Shards(1, 2)), new(c, 4 * GiB, Shards(3))]));
        Assert.Null(strategy.AllocateShard(a, new ShardId(9), []));

        var strict = new MostFreeMemoryAllocationStrategy(3 * GiB, requireFit: true);
        // best projected is 2 GiB < 3 GiB needed: wait
        Assert.Null(strict.AllocateShard(a, new ShardId(9), [new(a, 2 * GiB, []), new(b, 5 * GiB, Shards(1))]));
        Assert.Same(b, strict.AllocateShard(a, new ShardId(9), [new(a, 2 * GiB, []), new(b, 6 * GiB, Shards(1))]));
    }

    [Fact]
    public void Rebalance_moves_the_newest_shards_of_the_poorest_region_while_the_gap_exceeds_one_shard()
    {
        using var kit = new ActorTestKit();
        var a = kit.System.ActorOf(Props.Create<Idle>(), "region-a");
        var b = kit.System.ActorOf(Props.Create<Idle>(), "region-b");
        var strategy = new MostFreeMemoryAllocationStrategy(2 * GiB, maxSimultaneousRebalance: 5);
        var none = new HashSet<ShardId>();

        // a: 4 − 4×2 = −4, b: 10 → gap 14 > 2: move 4 (a −2, b 8), 3 (a 0, b 6), 2 (a 2, b 4); gap 2 is not > 2: stop.
        var moves = strategy.Rebalance([new(a, 4 * GiB, Shards(1, 2, 3, 4)), new(b, 10 * GiB, [])], none);
        Assert.Equal(new HashSet<ShardId>(Shards(2, 3, 4)), moves);
        // at most maxSimultaneousRebalance per round, and nothing while a round is in progress
        Assert.Equal(new HashSet<ShardId>(Shards(4)), new MostFreeMemoryAllocationStrategy(2 * GiB, 1).Rebalance([new(a, 4 * GiB, Shards(1, 2, 3, 4)), new(b, 10 * GiB, [])], none));
        Assert.Empty(strategy.Rebalance([new(a, 4 * GiB, Shards(1, 2, 3, 4)), new(b, 10 * GiB, [])], new HashSet<ShardId>(Shards(7))));
        // balanced within one shard: nothing moves
        Assert.Empty(strategy.Rebalance([new(a, 6 * GiB, Shards(1)), new(b, 5 * GiB, [])], none));
    }

    [Fact]
    public void Strategy_arguments_out_of_range_are_rejected()
    {
        Assert.Throws<ShardingConfigurationException>(() => new MostFreeMemoryAllocationStrategy(0));
        Assert.Throws<ShardingConfigurationException>(() => new MostFreeMemoryAllocationStrategy(GiB, -1));
        var error = Assert.Throws<ShardingConfigurationException>(() => new ShardingSettings { BufferSize = 0 }.Validate());
        Assert.Contains("BufferSize", error.Message);
        Assert.Throws<ShardingConfigurationException>(() => new ShardingSettings { HandOffTimeout = TimeSpan.Zero }.Validate());
    }
}
