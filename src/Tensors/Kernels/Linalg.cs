namespace Offload.Tensors.Kernels;

/// <summary>
/// Symmetric and triangular kernels on row-major square matrices, run on <see cref="Blas.Current"/>: SYRK (Hessian
/// accumulation H += Xᵀ·X), Cholesky (POTRF), triangular inverse (TRTRI) and the inverse from a Cholesky factor
/// (POTRI, torch's cholesky_inverse). Each reads and writes only the named triangle; <see cref="MirrorTriangle"/>
/// fills the other one when a full matrix is needed. The int results follow LAPACK's info: 0 on success, j+1 when
/// row/column j is where the matrix failed (not positive definite, or a zero on the diagonal).
/// </summary>
/// <example>GPTQ's inverse factor: <c>Dpotrf(Lower, H)</c>; <c>Dpotri(Lower, H)</c>; <c>MirrorTriangle(Lower, H)</c>;
/// <c>Dpotrf(Upper, H)</c> → U with H⁻¹ = Uᵀ·U.</example>
public static class Linalg
{
    /// <summary>uplo triangle of C[n,n] = alpha·A·Aᵀ + beta·C, A: [n,k]; with <paramref name="trans"/> alpha·Aᵀ·A + beta·C, A: [k,n]. f32.</summary>
    public static void Ssyrk(Triangle uplo, bool trans, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, float beta, Span<float> c, int ldc) =>
        Blas.Current.Ssyrk(uplo, trans, n, k, alpha, a, lda, beta, c, ldc);

    /// <summary>f64 SYRK (see <see cref="Ssyrk"/>).</summary>
    public static void Dsyrk(Triangle uplo, bool trans, int n, int k, double alpha, ReadOnlySpan<double> a, int lda, double beta, Span<double> c, int ldc) =>
        Blas.Current.Dsyrk(uplo, trans, n, k, alpha, a, lda, beta, c, ldc);

    /// <summary>Cholesky in place, A: [n,n] f32 symmetric positive definite: Lower → A = L·Lᵀ, Upper → A = Uᵀ·U.</summary>
    public static int Spotrf(Triangle uplo, int n, Span<float> a, int lda) => Blas.Current.Spotrf(uplo, n, a, lda);

    /// <summary>f64 Cholesky (see <see cref="Spotrf"/>).</summary>
    public static int Dpotrf(Triangle uplo, int n, Span<double> a, int lda) => Blas.Current.Dpotrf(uplo, n, a, lda);

    /// <summary>Triangular inverse in place, A: [n,n] f32 lower or upper triangular with a non-zero diagonal.</summary>
    public static int Strtri(Triangle uplo, int n, Span<float> a, int lda) => Blas.Current.Strtri(uplo, n, a, lda);

    /// <summary>f64 triangular inverse (see <see cref="Strtri"/>).</summary>
    public static int Dtrtri(Triangle uplo, int n, Span<double> a, int lda) => Blas.Current.Dtrtri(uplo, n, a, lda);

    /// <summary>A⁻¹ (its uplo triangle) from the Cholesky factor that <see cref="Spotrf"/> left there, f32.</summary>
    public static int Spotri(Triangle uplo, int n, Span<float> a, int lda) => Blas.Current.Spotri(uplo, n, a, lda);

    /// <summary>f64 inverse from the Cholesky factor (see <see cref="Spotri"/>).</summary>
    public static int Dpotri(Triangle uplo, int n, Span<double> a, int lda) => Blas.Current.Dpotri(uplo, n, a, lda);

    /// <summary>Copies the <paramref name="from"/> triangle of a symmetric [n,n] matrix onto the other one.</summary>
    public static void MirrorTriangle<T>(Triangle from, int n, Span<T> a, int lda) where T : unmanaged
    {
        BlasBackend.CheckMatrix("A", n, n, lda, a.Length);
        // 64×64 tiles keep both the rows read and the columns written in cache (n is 4096–14336 for Hessians).
        const int tile = 64;
        for (var i0 = 0; i0 < n; i0 += tile)
        for (var j0 = i0; j0 < n; j0 += tile)
        {
            var iEnd = Math.Min(i0 + tile, n);
            var jEnd = Math.Min(j0 + tile, n);
            for (var i = i0; i < iEnd; i++)
            for (var j = Math.Max(j0, i + 1); j < jEnd; j++)
            {
                if (from == Triangle.Lower) a[i * lda + j] = a[j * lda + i];
                else a[j * lda + i] = a[i * lda + j];
            }
        }
    }

    /// <summary>Sets the triangle opposite <paramref name="keep"/> (diagonal excluded) to zero, e.g. to use a Cholesky factor as a full matrix.</summary>
    public static void ZeroOtherTriangle<T>(Triangle keep, int n, Span<T> a, int lda) where T : unmanaged
    {
        BlasBackend.CheckMatrix("A", n, n, lda, a.Length);
        for (var i = 0; i < n; i++)
        {
            if (keep == Triangle.Lower) a.Slice(i * lda + i + 1, n - i - 1).Clear();
            else a.Slice(i * lda, i).Clear();
        }
    }
}
