using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Offload.Tensors.Formats;

/// <summary>
/// E8M0 scales of the MX formats (OCP Microscaling spec; compressed-tensors stores them as uint8 `weight_scale`,
/// spec §5.1): a code e stands for 2^(e−127).
/// <para>
/// Code 255 decodes to NaN, as the OCP MX spec defines it. compressed-tensors computes 2^(255−127) instead, which is
/// +Inf in bf16. The difference only shows for a group whose amax is Inf, NaN or at least 1.75·2^127 (it rounds to
/// 2^128 = Inf, and <see cref="MxExponent"/> gives 255 as compressed-tensors' clamp does); any finite amax below that
/// gives at most 253 for FP4/FP8 elements, so real checkpoints use codes 0–253.
/// </para>
/// </summary>
public static class E8M0
{
    /// <summary>The exponent bias: code e is 2^(e − 127).</summary>
    public const int Bias = 127;

    /// <summary>The NaN code (OCP MX).</summary>
    public const byte NaN = 0xFF;

    /// <summary>
    /// Scale → code: 127 + floor(log2 scale), clamped to [0, 255] (compressed-tensors `compress_mx_scale`). The scale
    /// is normally a power of two, so the code is exact; for other values floor(log2) is taken exactly. Zero (and
    /// anything below 2^−127) gives 0, +Inf and NaN give 255. A negative scale is a caller's bug and throws.
    /// </summary>
    public static byte Encode(float powerOfTwoScale)
    {
        uint u = BitConverter.SingleToUInt32Bits(powerOfTwoScale);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return NaN;
        if (u == 0x8000_0000u) return 0;
        if ((u & 0x8000_0000u) != 0) throw new ArgumentOutOfRangeException(nameof(powerOfTwoScale), powerOfTwoScale, "an E8M0 scale must not be negative");
        // For a normal f32, floor(log2 s) is its unbiased exponent, so the code is the biased exponent field itself
        // (1..254; +Inf's field 255 gives 255). 2^−127 is the only f32 subnormal with a code of its own: 0, like zero
        // and every smaller subnormal.
        return (byte)(u >> 23);
    }

    /// <summary>Code → 2^(code − 127) (exact, 2^−127 being an f32 subnormal); 255 → NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(byte code) => code == 0
        ? BitConverter.UInt32BitsToSingle(0x0040_0000u)
        : BitConverter.UInt32BitsToSingle(code == NaN ? 0x7FC0_0000u : (uint)code << 23);

    /// <summary>Element-wise <see cref="Decode(byte)"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        ref var s = ref MemoryMarshal.GetReference(src);
        ref var d = ref MemoryMarshal.GetReference(dst);
        for (var i = 0; i < src.Length; i++) Unsafe.Add(ref d, i) = Decode(Unsafe.Add(ref s, i));
    }

    /// <summary>
    /// The MX scale exponent of one group (spec §5.1 steps 1–2, compressed-tensors `generate_mx_scales`):
    /// <list type="number">
    /// <item>round <paramref name="amax"/> to a power of two p on the bit pattern of its own dtype: add
    /// 1 &lt;&lt; (mantissa bits − 2) to the integer view and keep the sign and exponent bits (so with amax = m·2^e,
    /// 1 ≤ m &lt; 2: p = 2^e if m &lt; 1.75, else 2^(e+1); a subnormal amax of at least 0.75 of the smallest normal
    /// rounds up to it, a smaller one to 0);</item>
    /// <item>exp = 127 + floor(log2 p) − <paramref name="elementEmax"/>, clamped to [0, 255]; p = 0 (an all-zero
    /// group) gives 0, p = +Inf (overflow, NaN) gives 255.</item>
    /// </list>
    /// </summary>
    /// <param name="amax">max |value| of the group, exactly representable in the dtype named by <paramref name="amaxMantissaBits"/>.</param>
    /// <param name="elementEmax">floor(log2) of the element format's largest value: <see cref="Fp4E2M1.Emax"/> (2) for
    /// MXFP4, <see cref="Float8E4M3.Emax"/> (8) for MXFP8.</param>
    /// <param name="amaxMantissaBits">the mantissa width of amax's dtype, which names it: 23 = f32, 7 = bf16, 10 = f16.</param>
    public static int MxExponent(float amax, int elementEmax, int amaxMantissaBits)
    {
        float p;
        switch (amaxMantissaBits)
        {
            case 23:
            {
                uint u = BitConverter.SingleToUInt32Bits(amax);
                p = BitConverter.UInt32BitsToSingle((u + (1u << 21)) & 0xFF80_0000u);
                break;
            }
            case 7:
            {
                uint b = BitConverter.SingleToUInt32Bits(amax) >> 16;
                p = BitConverter.UInt32BitsToSingle(((b + (1u << 5)) & 0xFF80u) << 16);
                break;
            }
            case 10:
            {
                uint h = BitConverter.HalfToUInt16Bits((Half)amax);
                p = (float)BitConverter.UInt16BitsToHalf((ushort)((h + (1u << 8)) & 0xFC00u));
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(amaxMantissaBits), amaxMantissaBits, "amax dtype must be f32 (23 mantissa bits), bf16 (7) or f16 (10)");
        }
        p = MathF.Abs(p);
        if (p == 0f) return 0;
        if (float.IsPositiveInfinity(p)) return 255;
        // p is a normal power of two here, so floor(log2 p) is its unbiased exponent.
        var exp = (int)(BitConverter.SingleToUInt32Bits(p) >> 23) - elementEmax;
        return Math.Clamp(exp, 0, 255);
    }
}
