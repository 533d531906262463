namespace Offload.Compression.Gptq;

/// <summary>How a layer's weights are quantized: round to nearest with observer qparams, or GPTQ.</summary>
public enum QuantizationMethod
{
    Rtn,
    Gptq,
}
