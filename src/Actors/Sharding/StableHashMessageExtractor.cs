using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// Extractor with a fixed shard count and <see cref="ShardHash"/> (Akka's HashCodeMessageExtractor, with a hash that
/// is stable across processes). Understands <see cref="ShardingEnvelope"/>; override the two virtual methods to
/// route domain messages that carry their own entity id.
/// </summary>
public class StableHashMessageExtractor : IMessageExtractor
{
    public StableHashMessageExtractor(int maxNumberOfShards)
    {
        if (maxNumberOfShards < 1)
            throw new ShardingConfigurationException($"sharding: the shard count must be at least 1 (got {maxNumberOfShards}); about 10 × the largest number of regions is a good choice");
        MaxNumberOfShards = maxNumberOfShards;
    }

    /// <summary>Fixed for the life of a cluster: changing it moves every entity.</summary>
    public int MaxNumberOfShards { get; }

    public virtual EntityId? GetEntityId(object message) => message is ShardingEnvelope envelope ? envelope.EntityId : null;

    public virtual object GetEntityMessage(object message) => message is ShardingEnvelope envelope ? envelope.Message : message;

    public ShardId GetShardId(EntityId entityId) => ShardHash.ShardOf(entityId, MaxNumberOfShards);
}
