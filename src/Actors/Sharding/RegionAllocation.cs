using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// What the coordinator knows about one hosting region when it asks a strategy: the free device memory the region
/// last reported and the shards allocated to it (in allocation order).
/// </summary>
public sealed record RegionAllocation(IActorRef Region, long FreeMemoryBytes, IReadOnlyList<ShardId> Shards);
