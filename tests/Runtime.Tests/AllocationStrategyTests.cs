using System.Collections.Immutable;
using Akka.Actor;
using Xunit;

namespace Offload.Runtime.Tests;

public sealed class AllocationStrategyTests() : Akka.TestKit.Xunit2.TestKit("akka.loglevel = WARNING")
{
    private static Address Node(string host, int port) => new("akka.tcp", "offload", host, port);

    private (FreeMemoryAllocationStrategy Strategy, Dictionary<IActorRef, Address> Regions) Make(
        params (Address Address, long Free)[] nodes)
    {
        var regions = new Dictionary<IActorRef, Address>();
        var free = new Dictionary<Address, long>();
        foreach (var (address, bytes) in nodes)
        {
            regions[CreateTestProbe().Ref] = address;
            free[address] = bytes;
        }
        return (new FreeMemoryAllocationStrategy(a => free[a], r => regions[r]), regions);
    }

    private static IImmutableDictionary<IActorRef, IImmutableList<string>> Allocations(IEnumerable<IActorRef> regions) =>
        regions.ToImmutableDictionary(r => r, _ => (IImmutableList<string>)ImmutableList<string>.Empty);

    [Fact]
    public async Task The_region_with_the_most_free_device_memory_gets_the_shard()
    {
        var (strategy, regions) = Make((Node("10.0.0.1", 2552), 4L << 30), (Node("10.0.0.2", 2552), 12L << 30), (Node("10.0.0.3", 2552), 8L << 30));
        var chosen = await strategy.AllocateShard(regions.Keys.First(), "7", Allocations(regions.Keys));
        Assert.Equal(Node("10.0.0.2", 2552), regions[chosen]);
    }

    [Fact]
    public async Task Free_memory_is_asked_at_allocation_time_so_placement_follows_it()
    {
        var free = new Dictionary<Address, long> { [Node("h", 1)] = 10, [Node("h", 2)] = 20 };
        var regions = new Dictionary<IActorRef, Address> { [CreateTestProbe().Ref] = Node("h", 1), [CreateTestProbe().Ref] = Node("h", 2) };
        var strategy = new FreeMemoryAllocationStrategy(a => free[a], r => regions[r]);
        Assert.Equal(Node("h", 2), regions[await strategy.AllocateShard(regions.Keys.First(), "0", Allocations(regions.Keys))]);
        free[Node("h", 1)] = 30;
        Assert.Equal(Node("h", 1), regions[await strategy.AllocateShard(regions.Keys.First(), "1", Allocations(regions.Keys))]);
    }

    [Fact]
    public async Task Ties_go_to_the_lowest_address_whatever_the_order_of_the_regions()
    {
        var (strategy, regions) = Make(
            (Node("10.0.0.2", 2552), 100), (Node("127.0.0.1", 10000), 100), (Node("127.0.0.1", 9000), 100), (Node("10.0.0.1", 2553), 50));
        var expected = Node("10.0.0.2", 2552); // "10.0.0.1" has less memory; among the rest "10.0.0.2" < "127.0.0.1"
        var keys = regions.Keys.ToList();
        for (var rotation = 0; rotation < keys.Count; rotation++)
        {
            var ordered = keys.Skip(rotation).Concat(keys.Take(rotation)).ToList();
            var chosen = await strategy.AllocateShard(ordered[0], "s", Allocations(ordered));
            Assert.Equal(expected, regions[chosen]);
        }

        var (samePort, samePortRegions) = Make((Node("127.0.0.1", 10000), 7), (Node("127.0.0.1", 9000), 7));
        var byPort = await samePort.AllocateShard(samePortRegions.Keys.First(), "s", Allocations(samePortRegions.Keys.Reverse()));
        Assert.Equal(Node("127.0.0.1", 9000), samePortRegions[byPort]); // ports compare as numbers, not strings
    }

    [Fact]
    public async Task Rebalance_never_moves_a_shard()
    {
        var (strategy, regions) = Make((Node("a", 1), 1), (Node("b", 1), 1000));
        var crowded = regions.Keys.ToImmutableDictionary(
            r => r, r => (IImmutableList<string>)(regions[r].Host == "a" ? ImmutableList.Create("1", "2", "3", "4") : ImmutableList<string>.Empty));
        var moved = await strategy.Rebalance(crowded, ImmutableHashSet<string>.Empty);
        Assert.Empty(moved);
    }
}
