using System.Text.Json.Nodes;
using Offload.Protocol;

namespace Offload.Compression.Checkpoint;

/// <summary>
/// What <see cref="CheckpointInspector.Inspect"/> read from a Hugging Face or compressed-tensors checkpoint folder:
/// the raw config.json, the safetensors files and every tensor (headers only), per-layer groups, totals, and the
/// quantization_config / transform_config objects when present (raw JSON: nothing is validated or dropped), and the
/// values of the KV-cache scales (a few numbers per layer).
/// </summary>
public sealed record CheckpointInspection(
    string Directory,
    JsonObject Config,
    IReadOnlyList<ShardFileSummary> Files,
    string? IndexFile,
    IReadOnlyList<TensorDescriptor> Tensors,
    IReadOnlyList<TensorGroupSummary> Groups,
    JsonObject? QuantizationConfig,
    JsonObject? TransformConfig)
{
    /// <summary>The text of the recipe.yaml saved beside the weights (llm-compressor's applied recipe), or null.</summary>
    public string? Recipe { get; init; }

    /// <summary>Why compressed-tensors cannot load this checkpoint and Offload is needed (one line each); empty when it can.</summary>
    public IReadOnlyList<string> NeedsOffload { get; init; } = [];

    /// <summary>
    /// The KV-cache scales (kv_cache_scheme: every "*.self_attn.k_scale" / "v_scale" tensor, in tensor order) with their
    /// dtype, shape and values; empty when there are none.
    /// </summary>
    public IReadOnlyList<(string Name, DType DType, IReadOnlyList<long> Shape, float[] Values)> KvCacheScales { get; init; } = [];

    /// <summary>Sum of the tensors' stored bytes.</summary>
    public long TotalBytes => Tensors.Sum(t => t.ByteLength);

    /// <summary>Sum of the tensors' element counts (packed tensors count their stored words, not the logical weights).</summary>
    public long TotalElements => Tensors.Sum(t => t.ElementCount);

    /// <summary>Stored bytes per dtype, largest first.</summary>
    public IReadOnlyList<(DType DType, long Bytes)> BytesByDType =>
        Tensors.GroupBy(t => t.DType).Select(g => (g.Key, g.Sum(t => t.ByteLength))).OrderByDescending(p => p.Item2).ToArray();

    /// <summary>True when quantization_config.quant_method is "compressed-tensors".</summary>
    public bool IsCompressedTensors => QuantizationConfig?["quant_method"] is JsonValue v && v.TryGetValue<string>(out var s) && s == "compressed-tensors";
}
