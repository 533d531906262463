using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// Places each shard on the region with the most free device memory, counting <c>shardMemoryBytes</c> as already
/// taken for every shard the region hosts: projected(r) = free(r) − shards(r) × shardMemoryBytes. Ties go to the
/// region with fewer shards, then to the lower path.
/// <para>Rebalance (one round at a time, at most <c>maxSimultaneousRebalance</c> shards): while the gap between the
/// region with the most and the one with the least projected memory (that hosts a shard) exceeds
/// <c>shardMemoryBytes</c>, move the most recently allocated shard of the poorer one. A move closes the gap by
/// 2 × shardMemoryBytes, so the condition cannot make a shard bounce back.</para>
/// </summary>
public sealed class MostFreeMemoryAllocationStrategy : IShardAllocationStrategy
{
    public MostFreeMemoryAllocationStrategy(long shardMemoryBytes, int maxSimultaneousRebalance = 3, bool requireFit = false)
    {
        if (shardMemoryBytes <= 0)
            throw new ShardingConfigurationException($"sharding: shardMemoryBytes must be positive (the device bytes one shard needs), got {shardMemoryBytes}");
        if (maxSimultaneousRebalance < 0)
            throw new ShardingConfigurationException($"sharding: maxSimultaneousRebalance must be ≥ 0 (0 turns rebalancing off), got {maxSimultaneousRebalance}");
        ShardMemoryBytes = shardMemoryBytes;
        MaxSimultaneousRebalance = maxSimultaneousRebalance;
        RequireFit = requireFit;
    }

    /// <summary>Device bytes one shard is expected to take.</summary>
    public long ShardMemoryBytes { get; }

    public int MaxSimultaneousRebalance { get; }

    /// <summary>When true a shard is only placed where projected free memory ≥ <see cref="ShardMemoryBytes"/>;
    /// otherwise it waits. When false it goes to the best region even if it does not fit (it will be offloaded).</summary>
    public bool RequireFit { get; }

    public IActorRef? AllocateShard(IActorRef requester, ShardId shard, IReadOnlyList<RegionAllocation> regions)
    {
        RegionAllocation? best = null;
        foreach (var region in regions)
        {
            if (best is null || Better(region, best)) best = region;
        }
        if (best is null) return null;
        if (RequireFit && Projected(best) < ShardMemoryBytes) return null;
        return best.Region;
    }

    public IReadOnlySet<ShardId> Rebalance(IReadOnlyList<RegionAllocation> regions, IReadOnlySet<ShardId> rebalanceInProgress)
    {
        var moves = new HashSet<ShardId>();
        if (rebalanceInProgress.Count > 0 || regions.Count < 2) return moves;
        var projected = new long[regions.Count];
        var remaining = new List<ShardId>[regions.Count];
        for (var i = 0; i < regions.Count; i++)
        {
            projected[i] = Projected(regions[i]);
            remaining[i] = new List<ShardId>(regions[i].Shards);
        }
        while (moves.Count < MaxSimultaneousRebalance)
        {
            int richest = -1, poorest = -1;
            for (var i = 0; i < regions.Count; i++)
            {
                if (richest < 0 || projected[i] > projected[richest]) richest = i;
                if (remaining[i].Count > 0 && (poorest < 0 || projected[i] < projected[poorest])) poorest = i;
            }
            if (poorest < 0 || poorest == richest || projected[richest] - projected[poorest] <= ShardMemoryBytes) break;
            var shard = remaining[poorest][^1];
            remaining[poorest].RemoveAt(remaining[poorest].Count - 1);
            projected[poorest] += ShardMemoryBytes;
            projected[richest] -= ShardMemoryBytes;
            moves.Add(shard);
        }
        return moves;
    }

    private long Projected(RegionAllocation region) => region.FreeMemoryBytes - region.Shards.Count * ShardMemoryBytes;

    private bool Better(RegionAllocation candidate, RegionAllocation best)
    {
        var a = Projected(candidate);
        var b = Projected(best);
        if (a != b) return a > b;
        if (candidate.Shards.Count != best.Shards.Count) return candidate.Shards.Count < best.Shards.Count;
        return string.CompareOrdinal(candidate.Region.Path, best.Region.Path) < 0;
    }
}
