namespace Offload.Compression.Quantization;

/// <summary>What a quantized value is: a signed integer code ("int") or a small float ("float", fp8/fp4; not computed here).</summary>
public enum QuantizationType
{
    Int,
    Float,
}
