using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Offload.Tensors.Formats;

/// <summary>
/// float8 e5m2 (torch.float8_e5m2, safetensors "F8_E5M2"): 1 sign, 5 exponent (bias 15), 2 mantissa bits; IEEE-like,
/// i.e. the top byte of an f16. Subnormals are m·2^−16; the largest finite value is 57344 (0x7B); ±Inf are 0x7C/0xFC;
/// 0x7D–0x7F and 0xFD–0xFF are NaN.
/// <para>
/// <see cref="Encode(float)"/> is torch's f32 → float8_e5m2 cast: round to nearest, ties to even, subnormals exact;
/// whatever rounds beyond 57344 (|x| ≥ 61440) becomes ±Inf; NaN becomes 0x7F with the input's sign.
/// <see cref="EncodeSaturating(float)"/> clamps to ±57344 first (NaN stays NaN). <see cref="Decode(byte)"/> is exact.
/// </para>
/// </summary>
public static class Float8E5M2
{
    /// <summary>The largest finite value, 57344 = 1.75·2^15 (code 0x7B).</summary>
    public const float MaxValue = 57344f;

    /// <summary>floor(log2 <see cref="MaxValue"/>).</summary>
    public const int Emax = 15;

    /// <summary>+Inf (−Inf is 0xFC).</summary>
    public const byte PositiveInfinity = 0x7C;

    /// <summary>The NaN code <see cref="Encode(float)"/> writes for a positive NaN (0xFF for a negative one).</summary>
    public const byte NaN = 0x7F;

    private const uint MinNormalBits = 0x3880_0000u; // 2^−14 as f32 bits
    private const uint Rebias = (127u - 15u) << 23;  // f32 exponent bias → e5m2 bias
    private const float SubnormalScale = 65536f;     // 2^16: one unit of the last place below 2^−14

    private static readonly float[] Table = BuildTable();

    /// <summary>f32 → e5m2 code, torch's cast (RNE; overflow after rounding → ±Inf; NaN → NaN code with its sign).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Encode(float x)
    {
        uint u = BitConverter.SingleToUInt32Bits(x);
        uint sign = (u >> 24) & 0x80u;
        uint a = u & 0x7FFF_FFFFu;
        uint r;
        if (a >= MinNormalBits)
        {
            if (a > 0x7F80_0000u) return (byte)(NaN | sign);
            // Rebias and round away the 21 low mantissa bits to nearest even; a carry moves into the exponent, and
            // anything at or past 61440 (Inf included) ends at or past 0x7C, which is clamped to Inf.
            a -= Rebias;
            a += 0xF_FFFFu + ((a >> 21) & 1u);
            r = a >> 21;
            if (r > PositiveInfinity) r = PositiveInfinity;
        }
        else
        {
            // |x| < 2^−14: the code is |x|/2^−16 rounded to an even integer (4 means 2^−14, the smallest normal).
            r = (uint)MathF.Round(BitConverter.UInt32BitsToSingle(a) * SubnormalScale);
        }
        return (byte)(r | sign);
    }

    /// <summary>Clamp to ±57344, then <see cref="Encode(float)"/>: never ±Inf (NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte EncodeSaturating(float x) => Encode(Math.Clamp(x, -MaxValue, MaxValue));

    /// <summary>e5m2 code → its exact f32 value (NaN codes keep their sign and payload, as f16 → f32 does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(byte code) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Table), code);

    /// <summary>Element-wise <see cref="Encode(float)"/>. <paramref name="dst"/> must be at least as long as <paramref name="src"/>.</summary>
    public static void Encode(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        ref var s = ref MemoryMarshal.GetReference(src);
        ref var d = ref MemoryMarshal.GetReference(dst);
        for (var i = 0; i < src.Length; i++) Unsafe.Add(ref d, i) = Encode(Unsafe.Add(ref s, i));
    }

    /// <summary>Element-wise <see cref="EncodeSaturating(float)"/>.</summary>
    public static void EncodeSaturating(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        ref var s = ref MemoryMarshal.GetReference(src);
        ref var d = ref MemoryMarshal.GetReference(dst);
        for (var i = 0; i < src.Length; i++) Unsafe.Add(ref d, i) = EncodeSaturating(Unsafe.Add(ref s, i));
    }

    /// <summary>Element-wise <see cref="Decode(byte)"/>. <paramref name="dst"/> must be at least as long as <paramref name="src"/>.</summary>
    public static void Decode(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        ref var t = ref MemoryMarshal.GetArrayDataReference(Table);
        ref var s = ref MemoryMarshal.GetReference(src);
        ref var d = ref MemoryMarshal.GetReference(dst);
        for (var i = 0; i < src.Length; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref t, Unsafe.Add(ref s, i));
    }

    // e5m2 is the high byte of an f16, so the exact value is that f16 widened.
    private static float[] BuildTable()
    {
        var table = new float[256];
        for (var c = 0; c < 256; c++) table[c] = (float)BitConverter.UInt16BitsToHalf((ushort)(c << 8));
        return table;
    }
}
