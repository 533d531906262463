using System.Text.Json.Nodes;
using Offload.Model.SafeTensors;

namespace Offload.Compression.Checkpoint;

/// <summary>Options of <see cref="CompressedTensorsWriter"/>.</summary>
public sealed record CompressedCheckpointOptions
{
    /// <summary>The compressed-tensors version written into quantization_config.version.</summary>
    public const string DefaultVersion = "0.12.2";

    /// <summary>Shard size limit (tensor bytes), HF's "5GB" by default.</summary>
    public long MaxShardBytes { get; init; } = SafetensorsCheckpointWriter.DefaultMaxShardBytes;

    /// <summary>A TransformConfig dump (compressed-tensors' transform_config) written as given; null → {}.</summary>
    public JsonNode? TransformConfig { get; init; }

    public string Version { get; init; } = DefaultVersion;
}
