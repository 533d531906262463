using Offload.Protocol;

namespace Offload.Actors.Sharding;

// The coordinator protocol (Akka's ShardCoordinator.Internal messages). Records of ids, refs and numbers only, so a
// transport can carry them between processes.
public sealed partial class ShardCoordinator
{
    /// <summary>Marker of messages a region receives from the coordinator.</summary>
    public interface ICoordinatorMessage;

    /// <summary>Region → coordinator: I host entities and have this much free device memory.</summary>
    public sealed record Register(IActorRef Region, long FreeMemoryBytes);

    /// <summary>Proxy → coordinator: I route but never host.</summary>
    public sealed record RegisterProxy(IActorRef Proxy);

    /// <summary>Coordinator → region or proxy: registered.</summary>
    public sealed record RegisterAck(IActorRef Coordinator) : ICoordinatorMessage;

    /// <summary>Region → coordinator: my free device memory changed (it drives allocation and rebalancing).</summary>
    public sealed record RegionMemoryChanged(IActorRef Region, long FreeMemoryBytes);

    /// <summary>Region → coordinator: where does <paramref name="Shard"/> live? Answered with <see cref="ShardHome"/>,
    /// at once or when the shard has a home again (after a handoff, or when a region can take it).</summary>
    public sealed record GetShardHome(ShardId Shard);

    /// <summary>Coordinator → region: <paramref name="Shard"/> lives in <paramref name="Region"/>.</summary>
    public sealed record ShardHome(ShardId Shard, IActorRef Region) : ICoordinatorMessage;

    /// <summary>Coordinator → region: you now host <paramref name="Shard"/>.</summary>
    public sealed record HostShard(ShardId Shard) : ICoordinatorMessage;

    /// <summary>Handoff step 1, coordinator → every region and proxy: forget where the shard lives and buffer its messages.</summary>
    public sealed record BeginHandOff(ShardId Shard) : ICoordinatorMessage;

    /// <summary>Handoff step 2, region → coordinator.</summary>
    public sealed record BeginHandOffAck(ShardId Shard);

    /// <summary>Handoff step 3, coordinator → the owning region: stop the shard's entities.</summary>
    public sealed record HandOff(ShardId Shard) : ICoordinatorMessage;

    /// <summary>Handoff step 4, owning side → coordinator: every entity of the shard has stopped.</summary>
    public sealed record ShardStopped(ShardId Shard);

    /// <summary>Query: answered with <see cref="CurrentAllocations"/>.</summary>
    public sealed record GetCurrentAllocations
    {
        public static readonly GetCurrentAllocations Instance = new();
        private GetCurrentAllocations() { }
    }

    /// <summary>Allocated shards and their regions, and the shards being handed off.</summary>
    public sealed record CurrentAllocations(IReadOnlyDictionary<ShardId, IActorRef> Homes, IReadOnlySet<ShardId> HandOffsInProgress);

    private sealed record RebalanceTick
    {
        public static readonly RebalanceTick Instance = new();
    }

    private sealed record HandOffTimeout(ShardId Shard);
}
