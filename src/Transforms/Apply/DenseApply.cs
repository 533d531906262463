using System.Buffers;
using System.Runtime.InteropServices;
using Offload.Tensors.Kernels;

namespace Offload.Transforms.Apply;

// Legend: n = matrix size, rows/cols as in TransformOperator.

/// <summary>The GEMM forms of <see cref="TransformOperator"/>'s two orientations, for an explicit matrix held as a span.</summary>
internal static class DenseApply
{
    /// <summary>x ← x·M (or x·Mᵀ) for every row. matrix: [n, n], data: [rows, n].</summary>
    public static void Rows<T>(ReadOnlySpan<T> matrix, int n, Span<T> data, bool transpose) where T : unmanaged
    {
        var rows = data.Length / n;
        if (rows == 0) return;
        var result = ArrayPool<T>.Shared.Rent(data.Length);
        try
        {
            Gemm(false, transpose, rows, n, n, data, n, matrix, n, result, n);
            result.AsSpan(0, data.Length).CopyTo(data);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(result);
        }
    }

    /// <summary>X ← Mᵀ·X (or M·X when <paramref name="transpose"/>). matrix: [n, n], data: [n, cols].</summary>
    public static void Columns<T>(ReadOnlySpan<T> matrix, int n, Span<T> data, int cols, bool transpose) where T : unmanaged
    {
        if (cols == 0) return;
        var result = ArrayPool<T>.Shared.Rent(data.Length);
        try
        {
            Gemm(!transpose, false, n, cols, n, matrix, n, data, cols, result, cols);
            result.AsSpan(0, data.Length).CopyTo(data);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(result);
        }
    }

    private static void Gemm<T>(bool transA, bool transB, int m, int nOut, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T[] c, int ldc) where T : unmanaged
    {
        if (typeof(T) == typeof(double))
            Tensors.Kernels.Gemm.Dgemm(transA, transB, m, nOut, k, 1.0, MemoryMarshal.Cast<T, double>(a), lda, MemoryMarshal.Cast<T, double>(b), ldb, 0.0, MemoryMarshal.Cast<T, double>(c.AsSpan()), ldc);
        else if (typeof(T) == typeof(float))
            Tensors.Kernels.Gemm.Sgemm(transA, transB, m, nOut, k, 1f, MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(b), ldb, 0f, MemoryMarshal.Cast<T, float>(c.AsSpan()), ldc);
        else throw new NotSupportedException(typeof(T).Name);
    }
}
