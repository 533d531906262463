using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Offload.Tensors.Kernels;

// Legend: n = transform length (a power of two), rows = independent vectors, cols = columns of a [n, cols] block.

/// <summary>
/// Fast Walsh–Hadamard transform, in place and <b>unnormalised</b>: a length-n vector x becomes x·Sₙ, where Sₙ is
/// the Sylvester matrix (Sₙ[i][j] = (−1)^popcount(i &amp; j), symmetric, entries ±1, Sₙ·Sₙ = n·I). Divide by √n
/// yourself for the orthonormal transform (the callers in Offload.Transforms do, at the block size).
/// </summary>
/// <remarks>
/// Each of the log₂(n) stages replaces every pair (a, b) at distance h by (a + b, a − b). Stages with h smaller than
/// one SIMD vector (h = 1, 2, 4 for f32, h = 1, 2 for f64) are done inside registers with AVX lane permutes and
/// blends; the rest are vector butterflies between two runs of the row. Every output element is produced by the
/// same additions in the same order as the scalar definition, so the vector and scalar paths agree bit for bit.
/// Cost: n·log₂(n) additions per row, against n² multiply-adds for a dense product.
/// </remarks>
public static class Fwht
{
    /// <summary>x ← x·Sₙ for one vector. x: [n] f32, n a power of two.</summary>
    public static void Transform(Span<float> x) => TransformRows(x, x.Length);

    /// <summary>x ← x·Sₙ for one vector. x: [n] f64, n a power of two.</summary>
    public static void Transform(Span<double> x) => TransformRows(x, x.Length);

    /// <summary>Each run of <paramref name="n"/> consecutive elements r ← r·Sₙ. data: [rows, n] f32 row-major.</summary>
    public static void TransformRows(Span<float> data, int n)
    {
        CheckRows(data.Length, n);
        if (n <= 1 || data.IsEmpty) return;
        ref var p = ref MemoryMarshal.GetReference(data);
        var length = data.Length;
        var done = 0;
        if (Avx.IsSupported && n >= 2)
        {
            // In-register stages h = 1, 2, 4 (those below n) over every aligned group of 8: rows of length ≥ 8 start
            // on multiples of 8, and rows of 2 or 4 pack whole into a group, so no group straddles two rows.
            var vectorEnd = length - length % 8;
            for (var i = 0; i < vectorEnd; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref p, (nuint)i);
                v = SmallStagesF32(v, n);
                v.StoreUnsafe(ref p, (nuint)i);
            }
            done = Math.Min(n, 8);
            if (vectorEnd < length) ScalarStages(data[vectorEnd..], n, 1, done);
        }
        else
        {
            done = 1;
        }
        if (done >= n) return;
        for (var row = 0; row < length; row += n)
            LargeStages(data.Slice(row, n), done);
    }

    /// <summary>Each run of <paramref name="n"/> consecutive elements r ← r·Sₙ. data: [rows, n] f64 row-major.</summary>
    public static void TransformRows(Span<double> data, int n)
    {
        CheckRows(data.Length, n);
        if (n <= 1 || data.IsEmpty) return;
        ref var p = ref MemoryMarshal.GetReference(data);
        var length = data.Length;
        var done = 1;
        if (Avx.IsSupported)
        {
            var vectorEnd = length - length % 4;
            for (var i = 0; i < vectorEnd; i += 4)
            {
                var v = Vector256.LoadUnsafe(ref p, (nuint)i);
                v = SmallStagesF64(v, n);
                v.StoreUnsafe(ref p, (nuint)i);
            }
            done = Math.Min(n, 4);
            if (vectorEnd < length) ScalarStages(data[vectorEnd..], n, 1, done);
        }
        if (done >= n) return;
        for (var row = 0; row < length; row += n)
            LargeStages(data.Slice(row, n), done);
    }

    /// <summary>
    /// Each column c ← Sₙ·c of a row-major block, i.e. the transform along the first axis. data: [n, cols] f32.
    /// Butterflies combine whole rows, so every operation is a contiguous vector add/sub over <paramref name="cols"/>.
    /// </summary>
    public static void TransformColumns(Span<float> data, int n, int cols) => TransformColumnsCore(data, n, cols, cols);

    /// <summary>Each column c ← Sₙ·c of a row-major block. data: [n, cols] f64.</summary>
    public static void TransformColumns(Span<double> data, int n, int cols) => TransformColumnsCore(data, n, cols, cols);

    /// <summary>
    /// Columns [0, cols) of a strided block: row i starts at data[i·stride]. data: [n, stride] f32 (the last row may
    /// end right after its <paramref name="cols"/> elements).
    /// </summary>
    public static void TransformColumns(Span<float> data, int n, int cols, int stride) => TransformColumnsCore(data, n, cols, stride);

    /// <summary>Columns [0, cols) of a strided block: row i starts at data[i·stride]. data: [n, stride] f64.</summary>
    public static void TransformColumns(Span<double> data, int n, int cols, int stride) => TransformColumnsCore(data, n, cols, stride);

    // ---- stages ------------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> SmallStagesF32(Vector256<float> v, int n)
    {
        // h = 1: partner lanes (0,1),(2,3)…; lane with the lower index keeps a+b, the upper one a−b.
        var s = Avx.Permute(v, 0b10_11_00_01);
        v = Avx.Blend(v + s, s - v, 0b1010_1010);
        if (n <= 2) return v;
        // h = 2: swap lane pairs inside each 128-bit half.
        s = Avx.Permute(v, 0b01_00_11_10);
        v = Avx.Blend(v + s, s - v, 0b1100_1100);
        if (n <= 4) return v;
        // h = 4: swap the two 128-bit halves.
        s = Avx.Permute2x128(v, v, 0x01);
        return Avx.Blend(v + s, s - v, 0b1111_0000);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> SmallStagesF64(Vector256<double> v, int n)
    {
        var s = Avx.Permute(v, 0b0101);
        v = Avx.Blend(v + s, s - v, 0b1010);
        if (n <= 2) return v;
        s = Avx.Permute2x128(v, v, 0x01);
        return Avx.Blend(v + s, s - v, 0b1100);
    }

    /// <summary>Stages h = start, 2·start, … n/2 on one row, vectorised where a run of h holds whole vectors.</summary>
    private static void LargeStages<T>(Span<T> row, int start) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = row.Length;
        ref var p = ref MemoryMarshal.GetReference(row);
        for (var h = start; h < n; h <<= 1)
        {
            if (Vector256.IsHardwareAccelerated && h >= Vector256<T>.Count)
            {
                var w = Vector256<T>.Count;
                for (var block = 0; block < n; block += 2 * h)
                {
                    for (var j = block; j < block + h; j += w)
                    {
                        var a = Vector256.LoadUnsafe(ref p, (nuint)j);
                        var b = Vector256.LoadUnsafe(ref p, (nuint)(j + h));
                        (a + b).StoreUnsafe(ref p, (nuint)j);
                        (a - b).StoreUnsafe(ref p, (nuint)(j + h));
                    }
                }
            }
            else
            {
                ScalarStage(row, h);
            }
        }
    }

    /// <summary>Stages h = 1 … until <paramref name="stopAt"/> (exclusive) on every row of a [rows, n] tail.</summary>
    private static void ScalarStages<T>(Span<T> data, int n, int startH, int stopAt) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // The tail always holds whole rows (its length is a multiple of n when n ≤ the vector width).
        var rowLength = Math.Min(n, data.Length);
        for (var row = 0; row + rowLength <= data.Length; row += rowLength)
            for (var h = startH; h < stopAt && h < rowLength; h <<= 1)
                ScalarStage(data.Slice(row, rowLength), h);
    }

    private static void ScalarStage<T>(Span<T> row, int h) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = row.Length;
        for (var block = 0; block < n; block += 2 * h)
        {
            for (var j = block; j < block + h; j++)
            {
                var a = row[j];
                var b = row[j + h];
                row[j] = a + b;
                row[j + h] = a - b;
            }
        }
    }

    private static void TransformColumnsCore<T>(Span<T> data, int n, int cols, int stride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n <= 0 || (n & (n - 1)) != 0) throw new ArgumentException($"FWHT length {n} is not a power of two", nameof(n));
        if (cols < 0 || stride < cols) throw new ArgumentException($"{cols} columns do not fit rows of stride {stride}", nameof(cols));
        if (cols == 0) return;
        if ((long)(n - 1) * stride + cols > data.Length) throw new ArgumentException($"a [{n}, {cols}] block of stride {stride} needs {(long)(n - 1) * stride + cols} elements, got {data.Length}", nameof(data));
        for (var h = 1; h < n; h <<= 1)
        {
            for (var block = 0; block < n; block += 2 * h)
            {
                for (var i = block; i < block + h; i++)
                    Butterfly(data.Slice(i * stride, cols), data.Slice((i + h) * stride, cols));
            }
        }
    }

    /// <summary>(a, b) ← (a + b, a − b) elementwise.</summary>
    private static void Butterfly<T>(Span<T> a, Span<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var len = a.Length;
        ref var pa = ref MemoryMarshal.GetReference(a);
        ref var pb = ref MemoryMarshal.GetReference(b);
        var j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256<T>.Count;
            for (; j <= len - w; j += w)
            {
                var x = Vector256.LoadUnsafe(ref pa, (nuint)j);
                var y = Vector256.LoadUnsafe(ref pb, (nuint)j);
                (x + y).StoreUnsafe(ref pa, (nuint)j);
                (x - y).StoreUnsafe(ref pb, (nuint)j);
            }
        }
        for (; j < len; j++)
        {
            var x = a[j];
            var y = b[j];
            a[j] = x + y;
            b[j] = x - y;
        }
    }

    private static void CheckRows(int length, int n)
    {
        if (n <= 0 || (n & (n - 1)) != 0) throw new ArgumentException($"FWHT length {n} is not a power of two", nameof(n));
        if (length % n != 0) throw new ArgumentException($"{length} elements are not whole rows of {n}", nameof(length));
    }
}
