using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Formats;

namespace Offload.Compression.Quantization;

/// <summary>
/// The scalar arithmetic of compressed-tensors (spec §7.2–7.3 of transforms-quantization.md, §1.3–1.4 of
/// formats-fp8-fp4-kv.md), with every intermediate rounded to the dtype torch computes it in (values are carried as
/// f32; bf16/f16 results are rounded after each operation as torch does). Int codes round half to even; fp8 codes are
/// e4m3fn casts and fp4 codes e2m1 (<see cref="QuantGrid"/>). A global scale G (NVFP4) divides the scale in f32:
/// s_eff = scale / G.
/// </summary>
public static class QuantMath
{
    /// <summary><paramref name="x"/> rounded to the nearest value of <paramref name="dtype"/> (ties to even); f32/f64 unchanged.</summary>
    public static float RoundTo(float x, DType dtype) => dtype switch
    {
        DType.BF16 => DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(x)),
        DType.F16 => (float)(Half)x,
        _ => x,
    };

    /// <summary>torch.finfo(dtype).eps, the value a zero scale is replaced by (fp8: 0.125; integer dtypes: 1).</summary>
    public static float Eps(DType dtype) => dtype switch
    {
        DType.BF16 => 0.0078125f,
        DType.F16 => 0.0009765625f,
        DType.F8E4M3 => 0.125f,
        DType.U8 or DType.I8 => 1f,
        _ => 1.1920929e-07f,
    };

    /// <summary>The dtype torch promotes (x dtype, scale dtype) to: the common dtype when equal, else f32 (bf16 with f16 also promotes to f32).</summary>
    public static DType Promote(DType a, DType b) => a == b ? a : DType.F32;

    /// <summary>True when the args take MX scales (float 4/8 bits, group 32, scale_dtype uint8: spec §5.1).</summary>
    public static bool IsMx(QuantizationArgs args) =>
        args.Type == QuantizationType.Float && args.GroupSize == 32 && args.ScaleDType == DType.U8;

    /// <summary>
    /// The global scale of spec §4.1: G = 448·6 / max(A, tiny) computed in <paramref name="dtype"/> (A is a value of it),
    /// then held in f32; a non-finite result becomes 1.
    /// </summary>
    public static float GlobalScale(float absMax, DType dtype)
    {
        var tiny = dtype == DType.F16 ? 6.1035156e-05f : 1.17549435e-38f;
        var g = RoundTo(448f * 6f / MathF.Max(absMax, tiny), dtype);
        return float.IsFinite(g) ? g : 1f;
    }

    /// <summary>
    /// calculate_qparams for one (min, max): widens to include 0; symmetric scale = absmax / ((qmax − qmin)/2) (int b:
    /// /((2^b−1)/2), fp8: /448, fp4: /6), zp 0; MX args take the power-of-two scale of spec §5.1; asymmetric (int only)
    /// scale = (max − min)/(2^b−1), zp = clamp(qmin − min/scale) rounded half to even. Computed in
    /// <paramref name="computeDType"/>; times <paramref name="globalScale"/> (in f32) when given; rounded to the args'
    /// scale_dtype when it is fp8 (clamp ±448, e4m3 RNE), then held in <paramref name="scaleDType"/> (the in-memory
    /// dtype of the scale); a zero scale becomes the eps of the scale_dtype (or of <paramref name="scaleDType"/>).
    /// </summary>
    public static (float Scale, int ZeroPoint) Calculate(float min, float max, QuantizationArgs args, DType computeDType, DType scaleDType,
        float? globalScale = null)
    {
        min = MathF.Min(min, 0f);
        max = MathF.Max(max, 0f);
        var grid = QuantGrid.Of(args);
        var qmin = grid.Min;
        var qmax = grid.Max;
        var bitRange = qmax - qmin;
        float scale;
        float zp = 0f;
        if (args.Symmetric)
        {
            var absMax = MathF.Max(MathF.Abs(min), MathF.Abs(max));
            if (IsMx(args)) return (MxScale(absMax, computeDType, grid.IsFloat4 ? 2 : 8), 0);
            scale = RoundTo(absMax / (bitRange / 2f), computeDType);
        }
        else
        {
            if (args.Type != QuantizationType.Int)
                throw new QuantizationConfigException($"{args}: asymmetric float quantization is not supported; set symmetric: true");
            scale = RoundTo(RoundTo(max - min, computeDType) / bitRange, computeDType);
            if (scale != 0f)
            {
                zp = RoundTo(qmin - RoundTo(min / scale, computeDType), computeDType);
                zp = Math.Clamp(zp, qmin, qmax);
            }
        }
        if (globalScale is { } g) scale = g * scale;
        if (args.ScaleDType == DType.F8E4M3) scale = Float8E4M3.Decode(Float8E4M3.EncodeSaturating(Math.Clamp(scale, -448f, 448f)));
        scale = RoundTo(scale, scaleDType);
        if (scale == 0f) scale = Eps(args.ScaleDType ?? scaleDType);
        // zp_dtype int8/16/32: clamp to its range, then round half to even (qmin..qmax is inside every one of them).
        var zpInt = (int)MathF.Round(zp, MidpointRounding.ToEven);
        return (scale, zpInt);
    }

    /// <summary>
    /// The MX scale of spec §5.1: amax (a value of <paramref name="dtype"/>) rounded to a power of two on its bit pattern
    /// (mantissa ≥ 1.75 carries up), exponent 127 + log2 p − <paramref name="elementEmax"/> clamped to [0, 255];
    /// returns 2^(exp − 127) (an all-zero group gives exp 0).
    /// </summary>
    public static float MxScale(float absMax, DType dtype, int elementEmax) => E8M0.Decode(MxExponent(absMax, dtype, elementEmax));

    /// <summary>The uint8 exponent of <see cref="MxScale"/> (amax rounded on <paramref name="dtype"/>'s own bit pattern).</summary>
    public static byte MxExponent(float absMax, DType dtype, int elementEmax) =>
        (byte)E8M0.MxExponent(absMax, elementEmax, dtype switch { DType.BF16 => 7, DType.F16 => 10, _ => 23 });

    /// <summary>
    /// The code of x: v = x / s_eff in <paramref name="computeDType"/> (s_eff = scale / G in f32 when G is given), plus zp,
    /// clamped to the grid, then rounded (int: half to even; fp8: e4m3 RNE; fp4: e2m1).
    /// </summary>
    public static int Quantize(float x, float scale, int zeroPoint, QuantGrid grid, DType computeDType, float? globalScale = null)
    {
        var s = globalScale is { } g ? scale / g : scale;
        var v = RoundTo(x / s, computeDType);
        if (zeroPoint != 0) v = RoundTo(v + zeroPoint, computeDType);
        v = Math.Clamp(v, grid.Min, grid.Max);
        return grid.Code(v);
    }

    /// <summary>
    /// x̂ = (value(q) − zp)·scale in <paramref name="scaleDType"/>; with a global scale, value(q) in the scale dtype times
    /// (scale / G) in f32 (the caller rounds to its dtype).
    /// </summary>
    public static float Dequantize(int code, float scale, int zeroPoint, QuantGrid grid, DType scaleDType, float? globalScale = null)
    {
        var value = grid.Value(code);
        if (globalScale is { } g) return (RoundTo(value, scaleDType) - zeroPoint) * (scale / g);
        return RoundTo(RoundTo(value - zeroPoint, scaleDType) * scale, scaleDType);
    }

    /// <summary>Quantize then dequantize.</summary>
    public static float FakeQuantize(float x, float scale, int zeroPoint, QuantGrid grid, DType computeDType, DType scaleDType, float? globalScale = null) =>
        Dequantize(Quantize(x, scale, zeroPoint, grid, computeDType, globalScale), scale, zeroPoint, grid, scaleDType, globalScale);
}
