using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// Tells sharding which entity a message is for, what to deliver to it, and which shard the entity lives in.
/// The shard of an entity must never change for the life of a cluster (same function, same shard count).
/// </summary>
public interface IMessageExtractor
{
    /// <summary>The entity a message is for; null when the message is not an entity message (it is dead-lettered).</summary>
    EntityId? GetEntityId(object message);

    /// <summary>What the entity receives (e.g. the payload of an envelope).</summary>
    object GetEntityMessage(object message);

    ShardId GetShardId(EntityId entityId);
}
