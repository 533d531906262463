namespace Offload.Tensors.Kernels;

/// <summary>
/// General matrix multiply, row-major: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, where op(X) is X or Xᵀ.
/// lda/ldb/ldc are the row strides of the matrices as stored (A is [m,k] or, transposed, [k,m]). Runs on
/// <see cref="Blas.Current"/> (OpenBLAS, or the managed fallback); with beta = 0, C is only written.
/// </summary>
public static class Gemm
{
    /// <summary>f32 GEMM.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc) =>
        Blas.Current.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>f64 GEMM.</summary>
    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc) =>
        Blas.Current.Dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>
    /// <paramref name="batch"/> f32 GEMMs; matrix i of A, B, C starts at element i·strideA, i·strideB, i·strideC
    /// (strideA or strideB 0 shares one matrix, e.g. one weight for every batch entry).
    /// </summary>
    public static void SgemmBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batch) =>
        Blas.Current.SgemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);

    /// <summary>f64 batched GEMM (see <see cref="SgemmBatched"/>).</summary>
    public static void DgemmBatched(bool transA, bool transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, long strideA, ReadOnlySpan<double> b, int ldb, long strideB,
        double beta, Span<double> c, int ldc, long strideC, int batch) =>
        Blas.Current.DgemmBatched(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);
}
