using System.Globalization;
using Akka.Cluster.Sharding;
using Offload.Protocol.Messages;

namespace Offload.DeviceActors.Cluster;

/// <summary>
/// How the shard region "layer-work" finds a layer's entity: <see cref="RunLayer"/> goes to the entity "{job}/layer-{l}",
/// whose shard is the layer index — so consecutive layers land on different workers (the allocation strategy places a
/// new shard on the node with the most free device memory, then the fewest shards).
/// </summary>
public sealed class LayerWorkMessageExtractor : IMessageExtractor
{
    /// <summary>The shard region's type name.</summary>
    public const string TypeName = "layer-work";

    public static LayerWorkMessageExtractor Instance { get; } = new();

    /// <summary>The entity id of layer <paramref name="layer"/> of job <paramref name="jobId"/>.</summary>
    public static string EntityIdOf(string jobId, int layer) => string.Create(CultureInfo.InvariantCulture, $"{jobId}/layer-{layer}");

    public string? EntityId(object message) => message is RunLayer r ? EntityIdOf(r.Spec.JobId, r.Layer) : null;

    public object? EntityMessage(object message) => message;

    public string? ShardId(object message) => message is RunLayer r ? r.Layer.ToString(CultureInfo.InvariantCulture) : null;

    public string ShardId(string entityId, object? messageHint = null) =>
        messageHint is RunLayer r ? r.Layer.ToString(CultureInfo.InvariantCulture) : entityId[(entityId.LastIndexOf('-') + 1)..];
}
