using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>A quantization scheme, argument set or quantization_config that compressed-tensors would refuse; the message names where and how to fix it.</summary>
public sealed class QuantizationConfigException(string message) : OffloadException(message);
