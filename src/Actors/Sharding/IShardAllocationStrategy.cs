using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// Decides where shards live (Akka's IShardAllocationStrategy). Called by the coordinator on its own turn, so it
/// needs no locking; it sees hosting regions only (proxies never host), ordered by path.
/// </summary>
public interface IShardAllocationStrategy
{
    /// <summary>The region that should host <paramref name="shard"/>, one of <paramref name="regions"/>; null when none
    /// can host it now (the request waits until a region registers or reports more free memory).</summary>
    IActorRef? AllocateShard(IActorRef requester, ShardId shard, IReadOnlyList<RegionAllocation> regions);

    /// <summary>Shards to move now (each is handed off, then allocated anew through <see cref="AllocateShard"/>).
    /// <paramref name="rebalanceInProgress"/> are shards already moving.</summary>
    IReadOnlySet<ShardId> Rebalance(IReadOnlyList<RegionAllocation> regions, IReadOnlySet<ShardId> rebalanceInProgress);
}
