using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Transforms.Apply;

/// <summary>
/// f64 results → a tensor's dtype with exactly one rounding (to nearest, ties to even), as fused transforms require.
/// f32 is a direct cast. For bf16 and f16 the value first goes to f32 with round-to-odd, then to the target with
/// ties-to-even; f32 keeps more than two extra bits of either target, and under that condition the pair is exactly
/// one correct rounding (Boldo &amp; Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms
/// using rounding to odd", 2008) — a plain f64→f32→bf16 chain could round twice.
/// </summary>
public static class FloatRounding
{
    /// <summary>Writes <paramref name="values"/> into <paramref name="destination"/> (same element count, float dtype).</summary>
    public static void Write(ReadOnlySpan<double> values, Tensor destination)
    {
        if (values.Length != destination.ElementCount) throw new ArgumentException($"{values.Length} values for a tensor of {destination.ElementCount} elements");
        switch (destination.DType)
        {
            case DType.F64:
                values.CopyTo(destination.Span<double>());
                break;
            case DType.F32:
            {
                var d = destination.Span<float>();
                for (var i = 0; i < values.Length; i++) d[i] = (float)values[i];
                break;
            }
            case DType.BF16:
            {
                var d = destination.Span<ushort>();
                for (var i = 0; i < values.Length; i++) d[i] = ToBF16Bits(values[i]);
                break;
            }
            case DType.F16:
            {
                var d = destination.Span<Half>();
                for (var i = 0; i < values.Length; i++) d[i] = ToHalf(values[i]);
                break;
            }
            default:
                throw new NotSupportedException($"fused transforms write float weights, not {destination.DType}");
        }
    }

    /// <summary>f64 → bf16 bits, one rounding to nearest even.</summary>
    public static ushort ToBF16Bits(double value) => DTypeConvert.F32ToBF16(ToSingleRoundToOdd(value));

    /// <summary>f64 → f16, one rounding to nearest even.</summary>
    public static Half ToHalf(double value) => (Half)ToSingleRoundToOdd(value);

    /// <summary>f64 → f32 rounded to odd: truncate toward zero and set the last bit when anything was dropped.</summary>
    public static float ToSingleRoundToOdd(double value)
    {
        var f = (float)value;
        if (double.IsNaN(value) || (double)f == value || float.IsInfinity(f)) return f;
        var bits = BitConverter.SingleToInt32Bits(f);
        if ((bits & 1) != 0) return f; // nearest was already the odd neighbour
        // f is the even neighbour; the odd one lies on the other side of value, one ulp toward it.
        var towardZero = Math.Abs((double)f) > Math.Abs(value);
        bits += towardZero ? -1 : 1; // sign-magnitude: ±1 on the bits moves the magnitude
        return BitConverter.Int32BitsToSingle(bits);
    }
}
