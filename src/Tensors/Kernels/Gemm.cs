namespace Offload.Tensors.Kernels;

/// <summary>
/// General matrix multiply, row-major: C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, where op(X) is X or Xᵀ.
/// lda/ldb/ldc are the row strides of the matrices as stored (A is [m,k] or, transposed, [k,m]).
/// </summary>
public static class Gemm
{
    /// <summary>f32 GEMM.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                float acc = 0;
                for (var p = 0; p < k; p++)
                {
                    var av = transA ? a[p * lda + i] : a[i * lda + p];
                    var bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    acc += av * bv;
                }
                c[i * ldc + j] = beta == 0 ? alpha * acc : alpha * acc + beta * c[i * ldc + j];
            }
        }
    }

    /// <summary>f64 GEMM.</summary>
    public static void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                double acc = 0;
                for (var p = 0; p < k; p++)
                {
                    var av = transA ? a[p * lda + i] : a[i * lda + p];
                    var bv = transB ? b[j * ldb + p] : b[p * ldb + j];
                    acc += av * bv;
                }
                c[i * ldc + j] = beta == 0 ? alpha * acc : alpha * acc + beta * c[i * ldc + j];
            }
        }
    }
}
