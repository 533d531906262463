namespace Offload.Compression.Checkpoint;

/// <summary>
/// compressed-tensors' dense int32 packing (spec §10.4): b-bit signed codes are offset by 2^(b−1) to unsigned, and
/// element i of a row takes global bits [i·b, (i+1)·b) of the row's words, least-significant first (an element may
/// straddle two words for b = 3, 5, 6, 7); tail bits are 0. A row of <c>cols</c> codes becomes ⌈cols·b/32⌉ words.
/// Zero-points are packed along dim 0: the same on the transpose.
/// </summary>
public static class Int32Packer
{
    /// <summary>Words per packed row: ⌈count·bits/32⌉.</summary>
    public static int PackedLength(int count, int bits) => checked((int)(((long)count * bits + 31) / 32));

    /// <summary>codes: [rows, cols] signed b-bit → packed: [rows, ⌈cols·b/32⌉] int32 (along the last axis).</summary>
    public static void Pack(ReadOnlySpan<sbyte> codes, int rows, int cols, int bits, Span<int> packed)
    {
        CheckBits(bits);
        var words = PackedLength(cols, bits);
        if (codes.Length != (long)rows * cols) throw new ArgumentException($"codes hold {codes.Length} values, expected {rows}×{cols}");
        if (packed.Length != (long)rows * words) throw new ArgumentException($"packed holds {packed.Length} words, expected {rows}×{words}");
        var offset = 1 << (bits - 1);
        var mask = (1u << bits) - 1;
        for (var r = 0; r < rows; r++)
        {
            var src = codes.Slice(r * cols, cols);
            var dst = packed.Slice(r * words, words);
            ulong acc = 0;     // bits not yet written, LSB first
            var filled = 0;    // how many of them
            var w = 0;
            for (var i = 0; i < cols; i++)
            {
                var u = src[i] + offset;
                if ((uint)u > mask) throw new ArgumentOutOfRangeException(nameof(codes), $"code {src[i]} at [{r}, {i}] is outside the {bits}-bit range [{-offset}, {offset - 1}]");
                acc |= (ulong)u << filled;
                filled += bits;
                if (filled >= 32)
                {
                    dst[w++] = unchecked((int)(uint)acc);
                    acc >>= 32;
                    filled -= 32;
                }
            }
            if (filled > 0) dst[w++] = unchecked((int)(uint)acc);
        }
    }

    /// <summary>packed: [rows, ⌈cols·b/32⌉] int32 → codes: [rows, cols] signed.</summary>
    public static void Unpack(ReadOnlySpan<int> packed, int rows, int cols, int bits, Span<sbyte> codes)
    {
        CheckBits(bits);
        var words = PackedLength(cols, bits);
        if (codes.Length != (long)rows * cols) throw new ArgumentException($"codes hold {codes.Length} values, expected {rows}×{cols}");
        if (packed.Length != (long)rows * words) throw new ArgumentException($"packed holds {packed.Length} words, expected {rows}×{words}");
        var offset = 1 << (bits - 1);
        var mask = (1ul << bits) - 1;
        for (var r = 0; r < rows; r++)
        {
            var src = packed.Slice(r * words, words);
            var dst = codes.Slice(r * cols, cols);
            ulong acc = 0;
            var available = 0;
            var w = 0;
            for (var i = 0; i < cols; i++)
            {
                if (available < bits)
                {
                    acc |= (ulong)(uint)src[w++] << available;
                    available += 32;
                }
                dst[i] = (sbyte)((int)(acc & mask) - offset);
                acc >>= bits;
                available -= bits;
            }
        }
    }

    /// <summary>codes: [rows, cols] → packed: [⌈rows·b/32⌉, cols] int32 (along dim 0, for zero-points).</summary>
    public static void PackDim0(ReadOnlySpan<sbyte> codes, int rows, int cols, int bits, Span<int> packed)
    {
        var words = PackedLength(rows, bits);
        if (packed.Length != (long)words * cols) throw new ArgumentException($"packed holds {packed.Length} words, expected {words}×{cols}");
        var t = new sbyte[codes.Length];
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
            t[c * rows + r] = codes[r * cols + c];
        var pt = new int[packed.Length];
        Pack(t, cols, rows, bits, pt);
        for (var c = 0; c < cols; c++)
        for (var w = 0; w < words; w++)
            packed[w * cols + c] = pt[c * words + w];
    }

    /// <summary>packed: [⌈rows·b/32⌉, cols] → codes: [rows, cols].</summary>
    public static void UnpackDim0(ReadOnlySpan<int> packed, int rows, int cols, int bits, Span<sbyte> codes)
    {
        var words = PackedLength(rows, bits);
        if (packed.Length != (long)words * cols) throw new ArgumentException($"packed holds {packed.Length} words, expected {words}×{cols}");
        var pt = new int[packed.Length];
        for (var c = 0; c < cols; c++)
        for (var w = 0; w < words; w++)
            pt[c * words + w] = packed[w * cols + c];
        var t = new sbyte[codes.Length];
        Unpack(pt, cols, rows, bits, t);
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
            codes[r * cols + c] = t[c * rows + r];
    }

    private static void CheckBits(int bits)
    {
        if (bits is < 1 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "packing supports 1–8 bits");
    }
}
