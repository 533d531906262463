using Offload.Compression.Quantization;
using Offload.Protocol;

namespace Offload.Compression.Checkpoint;

/// <summary>The compressed-tensors format names this writer produces, and the per-module choice (formats spec §1.5).</summary>
public static class CompressionFormat
{
    public const string PackQuantized = "pack-quantized";
    public const string IntQuantized = "int-quantized";
    public const string NaiveQuantized = "naive-quantized";
    public const string FloatQuantized = "float-quantized";
    public const string Nvfp4PackQuantized = "nvfp4-pack-quantized";
    public const string Mxfp4PackQuantized = "mxfp4-pack-quantized";
    public const string Mxfp8Quantized = "mxfp8-quantized";
    public const string Dense = "dense";
    public const string MixedPrecision = "mixed-precision";

    private static readonly string[] s_written =
        [PackQuantized, IntQuantized, NaiveQuantized, FloatQuantized, Nvfp4PackQuantized, Mxfp4PackQuantized, Mxfp8Quantized];

    /// <summary>
    /// The format of a module with <paramref name="scheme"/>: the scheme's forced format if any; otherwise the first of
    /// compressed-tensors' priority list that takes it — mxfp4-pack (float 4, group 32) → mxfp8 (float 8, group 32,
    /// scale_dtype uint8) → nvfp4-pack (float 4, group 16) → int-quantized (int weights with any input activations:
    /// W8A8, W4A8, W4AFP8 store unpacked int8) → pack-quantized (int weights alone) → float-quantized (float weights with
    /// input activations) → naive-quantized (float weights alone).
    /// </summary>
    public static string For(QuantizationScheme scheme, string module)
    {
        var w = scheme.Weights ?? throw new QuantizationConfigException($"{module}: no weight args; only weight-quantized modules are written compressed");
        if (scheme.Format is { } forced)
        {
            if (Array.IndexOf(s_written, forced) < 0)
                throw new QuantizationConfigException($"{module}: format '{forced}' is not supported; use one of {string.Join(", ", s_written)}");
            return forced;
        }
        if (w.Type == QuantizationType.Float)
        {
            if (w.NumBits == 4 && w.GroupSize == 32) return Mxfp4PackQuantized;
            if (w.NumBits == 8 && w.GroupSize == 32 && w.ScaleDType == DType.U8) return Mxfp8Quantized;
            if (w.NumBits == 4 && w.GroupSize == 16) return Nvfp4PackQuantized;
            if (w.NumBits == 4)
                throw new QuantizationConfigException($"{module}: fp4 weights are written only with group_size 16 (NVFP4) or 32 (MXFP4); got {w.GroupSize?.ToString() ?? "none"}");
            return scheme.InputActivations is null ? NaiveQuantized : FloatQuantized;
        }
        return scheme.InputActivations is null ? PackQuantized : IntQuantized;
    }

    /// <summary>True for the formats that pack two fp4 codes per byte into weight_packed.</summary>
    public static bool IsFp4Packed(string format) => format is Nvfp4PackQuantized or Mxfp4PackQuantized;
}
