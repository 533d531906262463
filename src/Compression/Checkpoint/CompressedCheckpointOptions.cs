using System.Text.Json.Nodes;
using Offload.Compression.Quantization;
using Offload.Model.SafeTensors;
using Offload.Tensors;

namespace Offload.Compression.Checkpoint;

/// <summary>Options of <see cref="CompressedTensorsWriter"/>.</summary>
public sealed record CompressedCheckpointOptions
{
    /// <summary>The compressed-tensors version written into quantization_config.version.</summary>
    public const string DefaultVersion = "0.18.0";

    /// <summary>Shard size limit (tensor bytes), HF's "5GB" by default.</summary>
    public long MaxShardBytes { get; init; } = SafetensorsCheckpointWriter.DefaultMaxShardBytes;

    /// <summary>A TransformConfig dump (compressed-tensors' transform_config) written as given; null → {}.</summary>
    public JsonNode? TransformConfig { get; init; }

    public string Version { get; init; } = DefaultVersion;

    /// <summary>The applied recipe's text, saved as recipe.yaml beside the weights (as llm-compressor does); null → none.</summary>
    public string? RecipeYaml { get; init; }

    /// <summary>
    /// The calibrated k/v scales of layer i, required when the plan has a kv_cache_scheme (written as
    /// model.layers.i.self_attn.k_scale / v_scale ahead of the layer's attention parameters, as the attention module's
    /// own parameters come first in its state dict).
    /// </summary>
    public Func<int, KvCacheScales>? KvCacheScales { get; init; }

    /// <summary>
    /// Online transform weights written after the model's parameters, as llm-compressor's state dict holds them
    /// (e.g. "model.layers.0.mlp.down_proj.R4_input.weight": the unnormalised ±1 matrix in the scheme's precision, one
    /// shared tensor written once under its first name). Each tensor is created when written and disposed by the writer.
    /// </summary>
    public IReadOnlyList<(string Name, Func<Tensor> Create)> ExtraTensors { get; init; } = [];
}
