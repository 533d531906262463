using System.Runtime.CompilerServices;

namespace Offload.Tensors;

/// <summary>
/// Exact conversions between the float dtypes. f32→bf16 and f32→f16 round to nearest, ties to even; NaN stays NaN
/// (quiet, sign kept) and ±Inf stays ±Inf; bf16→f32 and f16→f32 are exact.
/// </summary>
public static class DTypeConvert
{
    /// <summary>bf16 bits → f32 (exact: bf16 is the top half of an f32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BF16ToF32(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>
    /// f32 → bf16 bits, round to nearest, ties to even; overflow gives ±Inf. NaN stays NaN with its sign and top 7
    /// payload bits (so every bf16 NaN survives bf16→f32→bf16 bit for bit); only a payload that lies wholly in the
    /// dropped 16 bits gets the quiet bit set, since truncating it would make an infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort F32ToBF16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u)
        {
            var high = u >> 16;
            return (ushort)((high & 0x7Fu) == 0 ? high | 0x40u : high);
        }
        // Adding 0x7FFF plus the lowest kept bit rounds half to even; carries into the exponent give ±Inf correctly.
        uint rounding = 0x7FFFu + ((u >> 16) & 1u);
        return (ushort)((u + rounding) >> 16);
    }

    /// <summary>f16 bits → f32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16ToF32(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>f32 → f16 bits, round to nearest, ties to even (IEEE 754 conversion; overflow → ±Inf; NaN kept).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort F32ToF16(float value) => BitConverter.HalfToUInt16Bits((Half)value);
}
