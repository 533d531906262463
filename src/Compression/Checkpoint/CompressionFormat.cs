using Offload.Compression.Quantization;

namespace Offload.Compression.Checkpoint;

/// <summary>The compressed-tensors format names this writer produces, and the per-module choice of spec §10.2.</summary>
public static class CompressionFormat
{
    public const string PackQuantized = "pack-quantized";
    public const string IntQuantized = "int-quantized";
    public const string NaiveQuantized = "naive-quantized";
    public const string Dense = "dense";
    public const string MixedPrecision = "mixed-precision";

    /// <summary>
    /// The format of a module with <paramref name="scheme"/>: the scheme's forced format if any; int weights with input
    /// activations → int-quantized (unpacked int8, W8A8/W4A8/W4A4); int weights of 1–8 bits alone → pack-quantized.
    /// </summary>
    public static string For(QuantizationScheme scheme, string module)
    {
        var w = scheme.Weights ?? throw new QuantizationConfigException($"{module}: no weight args; only weight-quantized modules are written compressed");
        if (w.Type != QuantizationType.Int)
            throw new QuantizationConfigException($"{module}: float weight quantization is not written by this runtime; use int weights");
        if (scheme.Format is { } forced)
        {
            if (forced is not (PackQuantized or IntQuantized or NaiveQuantized))
                throw new QuantizationConfigException($"{module}: format '{forced}' is not supported; use pack-quantized, int-quantized or naive-quantized");
            return forced;
        }
        if (scheme.InputActivations is { Type: QuantizationType.Int }) return IntQuantized;
        if (scheme.InputActivations is null) return PackQuantized;
        return NaiveQuantized;
    }
}
