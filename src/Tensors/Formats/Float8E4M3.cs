using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Offload.Tensors.Formats;

/// <summary>
/// float8 e4m3fn (torch.float8_e4m3fn, safetensors "F8_E4M3"): 1 sign, 4 exponent (bias 7), 3 mantissa bits.
/// Subnormals are m·2^−9; the largest finite value is 448 (0x7E); there is no infinity; 0x7F and 0xFF are NaN.
/// <para>
/// <see cref="Encode(float)"/> is torch's f32 → float8_e4m3fn cast: round to nearest, ties to even, subnormals
/// exact; whatever rounds beyond 448 (|x| &gt; 464, ±Inf) and NaN become the NaN code with the input's sign.
/// <see cref="EncodeSaturating(float)"/> is what the quantizers do (spec §1.4): clamp to ±448, then cast; NaN stays NaN.
/// <see cref="Decode(byte)"/> is exact (NaN codes decode to a quiet NaN with the code's sign).
/// </para>
/// </summary>
public static class Float8E4M3
{
    /// <summary>The largest finite value, 448 = 1.75·2^8 (code 0x7E; −448 is 0xFE).</summary>
    public const float MaxValue = 448f;

    /// <summary>floor(log2 <see cref="MaxValue"/>): the element emax used by MX scales (spec §5.1, off = 8).</summary>
    public const int Emax = 8;

    /// <summary>The positive NaN code (the negative one is 0xFF).</summary>
    public const byte NaN = 0x7F;

    private const uint MinNormalBits = 0x3C80_0000u; // 2^−6 as f32 bits
    private const uint Rebias = (127u - 7u) << 23;   // f32 exponent bias → e4m3 bias
    private const float SubnormalScale = 512f;       // 2^9: one unit of the last place below 2^−6

    private static readonly float[] Table = BuildTable();

    /// <summary>f32 → e4m3fn code, torch's cast (RNE; beyond ±448 after rounding, ±Inf and NaN → NaN code).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Encode(float x)
    {
        uint u = BitConverter.SingleToUInt32Bits(x);
        uint sign = (u >> 24) & 0x80u;
        uint a = u & 0x7FFF_FFFFu;
        uint r;
        if (a >= MinNormalBits)
        {
            // Rebias the exponent and round away the 20 low mantissa bits to nearest even; a carry moves into the
            // exponent. Inf/NaN and every value above 464 end past 0x7E.
            a -= Rebias;
            a += 0x7_FFFFu + ((a >> 20) & 1u);
            r = a >> 20;
            if (r > 0x7Eu) r = 0x7Fu;
        }
        else
        {
            // |x| < 2^−6: the code is |x|/2^−9 rounded to an even integer (8 means 2^−6, the smallest normal). Exact:
            // the scaling by a power of two loses nothing and MathF.Round rounds ties to even.
            r = (uint)MathF.Round(BitConverter.UInt32BitsToSingle(a) * SubnormalScale);
        }
        return (byte)(r | sign);
    }

    /// <summary>Clamp to ±448, then <see cref="Encode(float)"/>: finite codes for every non-NaN input (±Inf → ±448).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte EncodeSaturating(float x) => Encode(Math.Clamp(x, -MaxValue, MaxValue));

    /// <summary>e4m3fn code → its exact f32 value.</summary>
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

    /// <summary>Element-wise <see cref="EncodeSaturating(float)"/> (the quantizers' clamp-then-cast).</summary>
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

    private static float[] BuildTable()
    {
        var table = new float[256];
        for (var c = 0; c < 256; c++)
        {
            uint sign = (uint)(c & 0x80) << 24;
            uint e = (uint)(c >> 3) & 0xFu;
            uint m = (uint)c & 7u;
            float magnitude;
            if (e == 0xF && m == 7) magnitude = BitConverter.UInt32BitsToSingle(0x7FC0_0000u); // quiet, positive
            else if (e == 0) magnitude = m / SubnormalScale;
            else magnitude = BitConverter.UInt32BitsToSingle(((e + 120u) << 23) | (m << 20));
            table[c] = BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(magnitude) | sign);
        }
        return table;
    }
}
