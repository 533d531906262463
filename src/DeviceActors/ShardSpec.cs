using System.Globalization;
using Offload.Model.Config;

namespace Offload.DeviceActors;

/// <summary>The identity of a shard: its kind, its decoder layer index (−1 for embedding and head) and the model config.</summary>
public sealed record ShardSpec(ShardKind Kind, int LayerIndex, LlamaConfig Config)
{
    /// <summary>
    /// The job the shard works for, when one device serves several jobs at once (a cluster node): it prefixes
    /// <see cref="Name"/>, so that the jobs' device blocks never share a key. Empty: one job (one process).
    /// </summary>
    public string Scope { get; init; } = "";

    /// <summary>"embed", "layer-3", "head" (with a <see cref="Scope"/>: "job-1f….layer-3"): the entity id and the owner name of its device blocks.</summary>
    public string Name => (Scope.Length > 0 ? Scope + "." : "") + Kind switch
    {
        ShardKind.Embedding => "embed",
        ShardKind.Head => "head",
        _ => string.Create(CultureInfo.InvariantCulture, $"layer-{LayerIndex}"),
    };

    public static ShardSpec Decoder(LlamaConfig config, int layer) => new(ShardKind.Decoder, layer, config);
    public static ShardSpec Embedding(LlamaConfig config) => new(ShardKind.Embedding, -1, config);
    public static ShardSpec Head(LlamaConfig config) => new(ShardKind.Head, -1, config);
}
