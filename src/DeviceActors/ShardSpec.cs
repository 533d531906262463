using System.Globalization;
using Offload.Model.Config;

namespace Offload.DeviceActors;

/// <summary>The identity of a shard: its kind, its decoder layer index (−1 for embedding and head) and the model config.</summary>
public sealed record ShardSpec(ShardKind Kind, int LayerIndex, LlamaConfig Config)
{
    /// <summary>"embed", "layer-3", "head": the entity id and the owner name of its device blocks.</summary>
    public string Name => Kind switch
    {
        ShardKind.Embedding => "embed",
        ShardKind.Head => "head",
        _ => string.Create(CultureInfo.InvariantCulture, $"layer-{LayerIndex}"),
    };

    public static ShardSpec Decoder(LlamaConfig config, int layer) => new(ShardKind.Decoder, layer, config);
    public static ShardSpec Embedding(LlamaConfig config) => new(ShardKind.Embedding, -1, config);
    public static ShardSpec Head(LlamaConfig config) => new(ShardKind.Head, -1, config);
}
