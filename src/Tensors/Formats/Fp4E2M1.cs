using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Offload.Tensors.Formats;

/// <summary>
/// fp4 e2m1 as NVFP4 and MXFP4 store it (spec §4.2, §4.3): a 4-bit nibble, bit 3 the sign, bits 0–2 the index of the
/// magnitude in 0, 0.5, 1, 1.5, 2, 3, 4, 6.
/// <para>
/// <see cref="Encode(float)"/> rounds |y| half-to-even on that grid (0.25→0, 0.75→1, 1.25→1, 1.75→2, 2.5→2, 3.5→4,
/// 5→4) and saturates (|y| &gt; 5, ±Inf → 6). The sign bit is set when y is negative, so a small negative value gives
/// −0 (nibble 0x8) while an exact ±0 gives 0x0 (compressed-tensors multiplies by sign(y), and sign(±0) = 0). NaN
/// encodes as 0x0 (no grid value matches it; the quantizers never feed one unless the weights hold NaN).
/// </para>
/// <para>
/// Packing: two consecutive elements share a byte, element 2j in the low nibble and 2j+1 in the high nibble.
/// </para>
/// </summary>
public static class Fp4E2M1
{
    /// <summary>The largest magnitude, 6 (nibble 0x7; −6 is 0xF).</summary>
    public const float MaxValue = 6f;

    /// <summary>floor(log2 <see cref="MaxValue"/>): the element emax used by MX scales (spec §5.1, off = 2).</summary>
    public const int Emax = 2;

    private static readonly float[] Table = [0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f, -0f, -0.5f, -1f, -1.5f, -2f, -3f, -4f, -6f];

    /// <summary>f32 → nibble (0x0–0xF) by the spec §4.2 table; saturates at ±6.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte Encode(float y)
    {
        var a = MathF.Abs(y);
        // Closed ends (≤) at the ties whose lower neighbour has an even mantissa, open ends (<) where the upper one has.
        uint m = a <= 0.25f ? 0u
            : a < 0.75f ? 1u
            : a <= 1.25f ? 2u
            : a < 1.75f ? 3u
            : a <= 2.5f ? 4u
            : a < 3.5f ? 5u
            : a <= 5f ? 6u
            : a > 5f ? 7u
            : 0u; // NaN
        return (byte)(y < 0f ? m | 8u : m);
    }

    /// <summary>Nibble → its f32 value (only the low 4 bits of <paramref name="nibble"/> are read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode(byte nibble) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Table), nibble & 0xF);

    /// <summary>Element-wise <see cref="Encode(float)"/>, one nibble per byte. <paramref name="nibbles"/> must be at least as long as <paramref name="src"/>.</summary>
    public static void Encode(ReadOnlySpan<float> src, Span<byte> nibbles)
    {
        if (nibbles.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(nibbles));
        ref var s = ref MemoryMarshal.GetReference(src);
        ref var d = ref MemoryMarshal.GetReference(nibbles);
        for (var i = 0; i < src.Length; i++) Unsafe.Add(ref d, i) = Encode(Unsafe.Add(ref s, i));
    }

    /// <summary>Element-wise <see cref="Decode(byte)"/>, one nibble per byte.</summary>
    public static void Decode(ReadOnlySpan<byte> nibbles, Span<float> dst)
    {
        if (dst.Length < nibbles.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        ref var t = ref MemoryMarshal.GetArrayDataReference(Table);
        ref var s = ref MemoryMarshal.GetReference(nibbles);
        ref var d = ref MemoryMarshal.GetReference(dst);
        for (var i = 0; i < nibbles.Length; i++) Unsafe.Add(ref d, i) = Unsafe.Add(ref t, Unsafe.Add(ref s, i) & 0xF);
    }

    /// <summary>
    /// Packs nibbles two to a byte: packed[j] = nibbles[2j] | nibbles[2j+1] &lt;&lt; 4. <paramref name="nibbles"/> must have
    /// an even length (compressed-tensors refuses an odd column count) and <paramref name="packed"/> at least half of it.
    /// </summary>
    public static void Pack(ReadOnlySpan<byte> nibbles, Span<byte> packed)
    {
        if ((nibbles.Length & 1) != 0) throw new ArgumentException($"fp4 packing needs an even element count, got {nibbles.Length}", nameof(nibbles));
        var n = nibbles.Length >> 1;
        if (packed.Length < n) throw new ArgumentException("destination is shorter than half the source", nameof(packed));
        ref var s = ref MemoryMarshal.GetReference(nibbles);
        ref var d = ref MemoryMarshal.GetReference(packed);
        for (var j = 0; j < n; j++)
            Unsafe.Add(ref d, j) = (byte)((Unsafe.Add(ref s, 2 * j) & 0xF) | (Unsafe.Add(ref s, 2 * j + 1) << 4));
    }

    /// <summary>Unpacks bytes into nibbles (low nibble first); <paramref name="nibbles"/> must be at least twice as long as <paramref name="packed"/>.</summary>
    public static void Unpack(ReadOnlySpan<byte> packed, Span<byte> nibbles)
    {
        if (nibbles.Length < 2 * packed.Length) throw new ArgumentException("destination is shorter than twice the source", nameof(nibbles));
        ref var s = ref MemoryMarshal.GetReference(packed);
        ref var d = ref MemoryMarshal.GetReference(nibbles);
        for (var j = 0; j < packed.Length; j++)
        {
            var b = Unsafe.Add(ref s, j);
            Unsafe.Add(ref d, 2 * j) = (byte)(b & 0xF);
            Unsafe.Add(ref d, 2 * j + 1) = (byte)(b >> 4);
        }
    }

    /// <summary>Encodes and packs in one pass: <paramref name="src"/> (even length) → <paramref name="packed"/> (half as long).</summary>
    public static void EncodePacked(ReadOnlySpan<float> src, Span<byte> packed)
    {
        if ((src.Length & 1) != 0) throw new ArgumentException($"fp4 packing needs an even element count, got {src.Length}", nameof(src));
        var n = src.Length >> 1;
        if (packed.Length < n) throw new ArgumentException("destination is shorter than half the source", nameof(packed));
        ref var s = ref MemoryMarshal.GetReference(src);
        ref var d = ref MemoryMarshal.GetReference(packed);
        for (var j = 0; j < n; j++)
            Unsafe.Add(ref d, j) = (byte)(Encode(Unsafe.Add(ref s, 2 * j)) | (Encode(Unsafe.Add(ref s, 2 * j + 1)) << 4));
    }

    /// <summary>Unpacks and decodes in one pass: <paramref name="packed"/> → <paramref name="dst"/> (at least twice as long).</summary>
    public static void DecodePacked(ReadOnlySpan<byte> packed, Span<float> dst)
    {
        if (dst.Length < 2 * packed.Length) throw new ArgumentException("destination is shorter than twice the source", nameof(dst));
        ref var t = ref MemoryMarshal.GetArrayDataReference(Table);
        ref var s = ref MemoryMarshal.GetReference(packed);
        ref var d = ref MemoryMarshal.GetReference(dst);
        for (var j = 0; j < packed.Length; j++)
        {
            var b = Unsafe.Add(ref s, j);
            Unsafe.Add(ref d, 2 * j) = Unsafe.Add(ref t, b & 0xF);
            Unsafe.Add(ref d, 2 * j + 1) = Unsafe.Add(ref t, b >> 4);
        }
    }
}
