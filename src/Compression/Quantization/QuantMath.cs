using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Compression.Quantization;

/// <summary>
/// The scalar arithmetic of compressed-tensors (spec §7.2–7.3), with every intermediate rounded to the dtype torch
/// computes it in (values are carried as f32; bf16/f16 results are rounded after each operation as torch does).
/// Rounding to integers is half to even.
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

    /// <summary>torch.finfo(dtype).eps, the value a zero scale is replaced by.</summary>
    public static float Eps(DType dtype) => dtype switch
    {
        DType.BF16 => 0.0078125f,
        DType.F16 => 0.0009765625f,
        _ => 1.1920929e-07f,
    };

    /// <summary>The dtype torch promotes (x dtype, scale dtype) to: the common dtype when equal, else f32 (bf16 with f16 also promotes to f32).</summary>
    public static DType Promote(DType a, DType b) => a == b ? a : DType.F32;

    /// <summary>
    /// calculate_qparams for one (min, max): widens to include 0; symmetric scale = absmax / ((2^b−1)/2), zp 0;
    /// asymmetric scale = (max − min)/(2^b−1), zp = clamp(qmin − min/scale) rounded half to even. Computed in
    /// <paramref name="computeDType"/>, then rounded to <paramref name="scaleDType"/>; a zero scale becomes its eps.
    /// </summary>
    public static (float Scale, int ZeroPoint) Calculate(float min, float max, QuantizationArgs args, DType computeDType, DType scaleDType)
    {
        if (args.Type != QuantizationType.Int)
            throw new QuantizationConfigException($"{args}: float quantization is not computed by this runtime; use int args");
        min = MathF.Min(min, 0f);
        max = MathF.Max(max, 0f);
        var qmin = args.QMin;
        var qmax = args.QMax;
        var bitRange = (float)(qmax - qmin);
        float scale;
        float zp = 0f;
        if (args.Symmetric)
        {
            var absMax = MathF.Max(MathF.Abs(min), MathF.Abs(max));
            scale = RoundTo(absMax / (bitRange / 2f), computeDType);
        }
        else
        {
            scale = RoundTo(RoundTo(max - min, computeDType) / bitRange, computeDType);
            if (scale != 0f)
            {
                zp = RoundTo(qmin - RoundTo(min / scale, computeDType), computeDType);
                zp = Math.Clamp(zp, qmin, qmax);
            }
        }
        scale = RoundTo(scale, scaleDType);
        if (scale == 0f) scale = Eps(scaleDType);
        // zp_dtype int8/16/32: clamp to its range, then round half to even (qmin..qmax is inside every one of them).
        var zpInt = (int)MathF.Round(zp, MidpointRounding.ToEven);
        return (scale, zpInt);
    }

    /// <summary>q = round_half_even(clamp(x/scale + zp, qmin, qmax)), x/scale and the sum in <paramref name="computeDType"/>.</summary>
    public static int Quantize(float x, float scale, int zeroPoint, int qmin, int qmax, DType computeDType)
    {
        var v = RoundTo(x / scale, computeDType);
        if (zeroPoint != 0) v = RoundTo(v + zeroPoint, computeDType);
        v = Math.Clamp(v, qmin, qmax);
        return (int)MathF.Round(v, MidpointRounding.ToEven);
    }

    /// <summary>x̂ = (q − zp)·scale in <paramref name="scaleDType"/>.</summary>
    public static float Dequantize(int q, float scale, int zeroPoint, DType scaleDType) =>
        RoundTo(RoundTo(q - zeroPoint, scaleDType) * scale, scaleDType);

    /// <summary>Quantize then dequantize.</summary>
    public static float FakeQuantize(float x, float scale, int zeroPoint, int qmin, int qmax, DType computeDType, DType scaleDType) =>
        Dequantize(Quantize(x, scale, zeroPoint, qmin, qmax, computeDType), scale, zeroPoint, scaleDType);
}
