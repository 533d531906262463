using Offload.Protocol;

namespace Offload.Actors.Sharding;

// Messages for a region and its entities (Akka's ShardRegion.Passivate, GetShardRegionState, …).
public sealed partial class ShardRegion
{
    /// <summary>Entity → its parent (the shard): stop me with <paramref name="StopMessage"/>. Messages that arrive
    /// meanwhile are buffered and delivered to a fresh incarnation after I have stopped.</summary>
    public sealed record Passivate(object StopMessage);

    /// <summary>Anyone → region: this node's free device memory changed; the region reports it to the coordinator.</summary>
    public sealed record UpdateFreeMemory(long FreeMemoryBytes);

    /// <summary>Query: answered with <see cref="CurrentShardRegionState"/>.</summary>
    public sealed record GetShardRegionState
    {
        public static readonly GetShardRegionState Instance = new();
        private GetShardRegionState() { }
    }

    /// <summary>The shards this region hosts and how many messages it buffers for shards without a known home.</summary>
    public sealed record CurrentShardRegionState(IReadOnlyList<ShardId> Shards, int BufferedMessages);

    private sealed record RetryTick
    {
        public static readonly RetryTick Instance = new();
    }
}
