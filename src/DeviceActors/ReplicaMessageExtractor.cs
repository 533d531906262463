using Akka.Cluster.Sharding;
using Offload.Protocol;

namespace Offload.DeviceActors;

/// <summary>
/// How the shard region "layer" finds a <see cref="LayerShard"/> replica: the entity "{part}@{device}" (e.g.
/// "layer-3@cpu:1") gets messages wrapped in a <see cref="ReplicaEnvelope"/>; its shard is its device, so every
/// replica on a device lives where that device does and the allocation strategy places whole devices.
/// </summary>
public sealed class ReplicaMessageExtractor : IMessageExtractor
{
    /// <summary>The shard region's type name.</summary>
    public const string TypeName = "layer";

    public static ReplicaMessageExtractor Instance { get; } = new();

    /// <summary>The entity id of <paramref name="part"/>'s replica on <paramref name="device"/>.</summary>
    public static string EntityIdOf(string part, DeviceId device) => $"{part}@{device}";

    /// <summary>(part name, device) of an entity id made by <see cref="EntityIdOf"/>.</summary>
    public static (string Part, string Device) Parse(string entityId)
    {
        var at = entityId.LastIndexOf('@');
        if (at <= 0 || at == entityId.Length - 1) throw new ArgumentException($"'{entityId}' is not a replica entity id (part@device)", nameof(entityId));
        return (entityId[..at], entityId[(at + 1)..]);
    }

    public string? EntityId(object message) => (message as ReplicaEnvelope)?.EntityId;

    /// <summary>The message the replica gets: wrapped with its sender's trace context when there is one (see <see cref="Runtime.TracedReceiveActor"/>).</summary>
    public object? EntityMessage(object message) => message switch
    {
        ReplicaEnvelope { Parent: var p } e when p != default => new Runtime.TracedMessage(e.Message, p),
        ReplicaEnvelope e => e.Message,
        _ => message,
    };

    public string? ShardId(object message) => EntityId(message) is { } id ? Parse(id).Device : null;

    public string ShardId(string entityId, object? messageHint = null) => Parse(entityId).Device;
}
