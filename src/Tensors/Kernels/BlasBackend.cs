using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Offload.Tensors.Kernels;

/// <summary>
/// One implementation of the dense linear-algebra kernels (OpenBLAS by P/Invoke, or the managed fallback).
/// Every matrix is row-major with a leading dimension (row stride) ld ≥ its column count. The public methods check
/// dimensions and span lengths, then call the backend on pinned memory; <see cref="Blas.Current"/> picks the backend
/// that <see cref="Gemm"/> and <see cref="Linalg"/> use.
/// </summary>
public abstract unsafe class BlasBackend
{
    /// <summary>"OpenBLAS" or "managed".</summary>
    public abstract string Name { get; }

    /// <summary>A one-line description: library version and build for OpenBLAS, kernel shape for the managed one.</summary>
    public abstract string Description { get; }

    /// <summary>Threads one call may use.</summary>
    public abstract int Threads { get; }

    /// <summary>True for a native library, false for the managed fallback.</summary>
    public abstract bool IsNative { get; }

    public override string ToString() => $"{Name} ({Description}, {Threads} threads)";

    // ---- GEMM ------------------------------------------------------------------------------------------------

    /// <summary>C[m,n] = alpha·op(A)·op(B) + beta·C, f32. A is [m,k] (or [k,m] with transA), B is [k,n] (or [n,k] with transB).
    /// With beta = 0, C is not read (NaN in C does not propagate).</summary>
    public void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        CheckGemm(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == 0f) ScaleRows(pc, m, n, ldc, beta);
            else SgemmCore(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
        }
    }

    /// <summary>C[m,n] = alpha·op(A)·op(B) + beta·C, f64 (same layout rules as <see cref="Sgemm"/>).</summary>
    public void Dgemm(bool transA, bool transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        CheckGemm(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        fixed (double* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == 0d) ScaleRows(pc, m, n, ldc, beta);
            else DgemmCore(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
        }
    }

    /// <summary>
    /// <paramref name="batch"/> independent f32 GEMMs: C_i = alpha·op(A_i)·op(B_i) + beta·C_i, where matrix i of X starts at
    /// element i·strideX. A stride of 0 shares one matrix across the batch (not allowed for C).
    /// </summary>
    public void SgemmBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batch)
    {
        CheckBatched(transA, transB, m, n, k, a.Length, lda, strideA, b.Length, ldb, strideB, c.Length, ldc, strideC, batch);
        if (m == 0 || n == 0 || batch == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == 0f)
            {
                for (var i = 0; i < batch; i++) ScaleRows(pc + i * strideC, m, n, ldc, beta);
                return;
            }
            SgemmBatchedCore(transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch);
        }
    }

    /// <summary>f64 batched GEMM (same layout rules as <see cref="SgemmBatched"/>).</summary>
    public void DgemmBatched(bool transA, bool transB, int m, int n, int k, double alpha,
        ReadOnlySpan<double> a, int lda, long strideA, ReadOnlySpan<double> b, int ldb, long strideB,
        double beta, Span<double> c, int ldc, long strideC, int batch)
    {
        CheckBatched(transA, transB, m, n, k, a.Length, lda, strideA, b.Length, ldb, strideB, c.Length, ldc, strideC, batch);
        if (m == 0 || n == 0 || batch == 0) return;
        fixed (double* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == 0d)
            {
                for (var i = 0; i < batch; i++) ScaleRows(pc + i * strideC, m, n, ldc, beta);
                return;
            }
            DgemmBatchedCore(transA, transB, m, n, k, alpha, pa, lda, strideA, pb, ldb, strideB, beta, pc, ldc, strideC, batch);
        }
    }

    // ---- symmetric rank-k update -----------------------------------------------------------------------------

    /// <summary>
    /// C[n,n] = alpha·A·Aᵀ + beta·C (A: [n,k]), or with <paramref name="trans"/> alpha·Aᵀ·A + beta·C (A: [k,n]), f32.
    /// Only the <paramref name="uplo"/> triangle of C is read and written; the other is left as it was.
    /// </summary>
    public void Ssyrk(Triangle uplo, bool trans, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
        float beta, Span<float> c, int ldc)
    {
        CheckSyrk(trans, n, k, a.Length, lda, c.Length, ldc);
        if (n == 0) return;
        fixed (float* pa = a, pc = c)
        {
            if (k == 0 || alpha == 0f) ScaleTriangle(pc, n, ldc, uplo, beta);
            else SsyrkCore(uplo, trans, n, k, alpha, pa, lda, beta, pc, ldc);
        }
    }

    /// <summary>f64 symmetric rank-k update (see <see cref="Ssyrk"/>).</summary>
    public void Dsyrk(Triangle uplo, bool trans, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
        double beta, Span<double> c, int ldc)
    {
        CheckSyrk(trans, n, k, a.Length, lda, c.Length, ldc);
        if (n == 0) return;
        fixed (double* pa = a, pc = c)
        {
            if (k == 0 || alpha == 0d) ScaleTriangle(pc, n, ldc, uplo, beta);
            else DsyrkCore(uplo, trans, n, k, alpha, pa, lda, beta, pc, ldc);
        }
    }

    // ---- Cholesky and triangular inverse ---------------------------------------------------------------------

    /// <summary>
    /// Cholesky factorization in place, f32: Lower gives A = L·Lᵀ in the lower triangle, Upper gives A = Uᵀ·U in the
    /// upper one; only that triangle is read and written. Returns 0, or j+1 when the leading minor of order j+1 is
    /// not positive definite or a NaN reached pivot j (the factorization stopped there, as LAPACK's info).
    /// </summary>
    public int Spotrf(Triangle uplo, int n, Span<float> a, int lda)
    {
        CheckSquare(n, a.Length, lda, "A");
        if (n == 0) return 0;
        fixed (float* p = a) return SpotrfCore(uplo, n, p, lda);
    }

    /// <summary>f64 Cholesky factorization (see <see cref="Spotrf"/>).</summary>
    public int Dpotrf(Triangle uplo, int n, Span<double> a, int lda)
    {
        CheckSquare(n, a.Length, lda, "A");
        if (n == 0) return 0;
        fixed (double* p = a) return DpotrfCore(uplo, n, p, lda);
    }

    /// <summary>
    /// Inverse of a triangular matrix in place (non-unit diagonal), f32; only the <paramref name="uplo"/> triangle is
    /// read and written. Returns 0, or j+1 when the diagonal entry j is exactly zero (the matrix is then unchanged).
    /// </summary>
    public int Strtri(Triangle uplo, int n, Span<float> a, int lda)
    {
        CheckSquare(n, a.Length, lda, "A");
        if (n == 0) return 0;
        fixed (float* p = a) return StrtriCore(uplo, n, p, lda);
    }

    /// <summary>f64 triangular inverse (see <see cref="Strtri"/>).</summary>
    public int Dtrtri(Triangle uplo, int n, Span<double> a, int lda)
    {
        CheckSquare(n, a.Length, lda, "A");
        if (n == 0) return 0;
        fixed (double* p = a) return DtrtriCore(uplo, n, p, lda);
    }

    /// <summary>
    /// A⁻¹ from the Cholesky factor that <see cref="Spotrf"/> left in the <paramref name="uplo"/> triangle (torch's
    /// cholesky_inverse), f32; the same triangle of A⁻¹ replaces it. Returns 0, or j+1 when the factor's diagonal entry j is zero.
    /// </summary>
    public int Spotri(Triangle uplo, int n, Span<float> a, int lda)
    {
        CheckSquare(n, a.Length, lda, "A");
        if (n == 0) return 0;
        fixed (float* p = a) return SpotriCore(uplo, n, p, lda);
    }

    /// <summary>f64 inverse from the Cholesky factor (see <see cref="Spotri"/>).</summary>
    public int Dpotri(Triangle uplo, int n, Span<double> a, int lda)
    {
        CheckSquare(n, a.Length, lda, "A");
        if (n == 0) return 0;
        fixed (double* p = a) return DpotriCore(uplo, n, p, lda);
    }

    // ---- throughput ------------------------------------------------------------------------------------------

    /// <summary>
    /// Measures f32 GEMM throughput: square <paramref name="size"/>³ products repeated for about
    /// <paramref name="seconds"/> (after one warm-up call). Returns GFLOP/s counting 2·size³ flops per product.
    /// </summary>
    public double MeasureSgemmGflops(int size = 1024, double seconds = 1.0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var count = (nuint)size * (nuint)size;
        var a = (float*)NativeMemory.AlignedAlloc(count * sizeof(float), 64);
        var b = (float*)NativeMemory.AlignedAlloc(count * sizeof(float), 64);
        var c = (float*)NativeMemory.AlignedAlloc(count * sizeof(float), 64);
        try
        {
            var rng = new Random(12345);
            for (nuint i = 0; i < count; i++)
            {
                a[i] = (float)(rng.NextDouble() - 0.5);
                b[i] = (float)(rng.NextDouble() - 0.5);
            }
            SgemmCore(false, false, size, size, size, 1f, a, size, b, size, 0f, c, size);
            var runs = 0;
            var watch = Stopwatch.StartNew();
            do
            {
                SgemmCore(false, false, size, size, size, 1f, a, size, b, size, 0f, c, size);
                runs++;
            }
            while (watch.Elapsed.TotalSeconds < seconds || runs < 2);
            return 2.0 * size * size * (double)size * runs / watch.Elapsed.TotalSeconds / 1e9;
        }
        finally
        {
            NativeMemory.AlignedFree(a);
            NativeMemory.AlignedFree(b);
            NativeMemory.AlignedFree(c);
        }
    }

    // ---- backend entry points (dimensions checked, m, n, k ≥ 1, alpha ≠ 0) ----------------------------------

    internal abstract void SgemmCore(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    internal abstract void DgemmCore(bool transA, bool transB, int m, int n, int k, double alpha,
        double* a, int lda, double* b, int ldb, double beta, double* c, int ldc);

    internal virtual void SgemmBatchedCore(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, long strideA, float* b, int ldb, long strideB, float beta, float* c, int ldc, long strideC, int batch)
    {
        for (var i = 0; i < batch; i++)
            SgemmCore(transA, transB, m, n, k, alpha, a + i * strideA, lda, b + i * strideB, ldb, beta, c + i * strideC, ldc);
    }

    internal virtual void DgemmBatchedCore(bool transA, bool transB, int m, int n, int k, double alpha,
        double* a, int lda, long strideA, double* b, int ldb, long strideB, double beta, double* c, int ldc, long strideC, int batch)
    {
        for (var i = 0; i < batch; i++)
            DgemmCore(transA, transB, m, n, k, alpha, a + i * strideA, lda, b + i * strideB, ldb, beta, c + i * strideC, ldc);
    }

    internal abstract void SsyrkCore(Triangle uplo, bool trans, int n, int k, float alpha, float* a, int lda, float beta, float* c, int ldc);

    internal abstract void DsyrkCore(Triangle uplo, bool trans, int n, int k, double alpha, double* a, int lda, double beta, double* c, int ldc);

    internal abstract int SpotrfCore(Triangle uplo, int n, float* a, int lda);

    internal abstract int DpotrfCore(Triangle uplo, int n, double* a, int lda);

    internal abstract int StrtriCore(Triangle uplo, int n, float* a, int lda);

    internal abstract int DtrtriCore(Triangle uplo, int n, double* a, int lda);

    internal abstract int SpotriCore(Triangle uplo, int n, float* a, int lda);

    internal abstract int DpotriCore(Triangle uplo, int n, double* a, int lda);

    // ---- checks and helpers ----------------------------------------------------------------------------------

    private static void ScaleRows<T>(T* c, int m, int n, int ldc, T beta) where T : unmanaged, System.Numerics.INumber<T>
    {
        for (var i = 0; i < m; i++)
        {
            var row = new Span<T>(c + (long)i * ldc, n);
            if (beta == T.Zero) row.Clear();
            else if (beta != T.One) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    private static void ScaleTriangle<T>(T* c, int n, int ldc, Triangle uplo, T beta) where T : unmanaged, System.Numerics.INumber<T>
    {
        for (var i = 0; i < n; i++)
        {
            var row = uplo == Triangle.Lower ? new Span<T>(c + (long)i * ldc, i + 1) : new Span<T>(c + (long)i * ldc + i, n - i);
            if (beta == T.Zero) row.Clear();
            else if (beta != T.One) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>Checks that a rows×cols matrix with row stride ld fits in a span of <paramref name="length"/> elements.</summary>
    internal static void CheckMatrix(string name, int rows, int cols, int ld, long length, long offset = 0)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(name, $"{name} has negative dimensions {rows}×{cols}");
        if (ld < Math.Max(1, cols)) throw new ArgumentOutOfRangeException(name, $"leading dimension of {name} is {ld}, less than its {cols} columns");
        if (rows == 0 || cols == 0) return;
        var needed = offset + (long)(rows - 1) * ld + cols;
        if (needed > length) throw new ArgumentException($"{name} needs {needed} elements ({rows}×{cols}, ld {ld}) but its span has {length}", name);
    }

    private static void CheckGemm(bool transA, bool transB, int m, int n, int k, int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"negative GEMM size m={m}, n={n}, k={k}");
        if (m == 0 || n == 0) return;
        CheckMatrix("A", transA ? k : m, transA ? m : k, lda, aLength);
        CheckMatrix("B", transB ? n : k, transB ? k : n, ldb, bLength);
        CheckMatrix("C", m, n, ldc, cLength);
    }

    private static void CheckBatched(bool transA, bool transB, int m, int n, int k, int aLength, int lda, long strideA,
        int bLength, int ldb, long strideB, int cLength, int ldc, long strideC, int batch)
    {
        if (m < 0 || n < 0 || k < 0 || batch < 0) throw new ArgumentOutOfRangeException(nameof(m), $"negative GEMM size m={m}, n={n}, k={k}, batch={batch}");
        if (m == 0 || n == 0 || batch == 0) return;
        if (strideA < 0 || strideB < 0) throw new ArgumentOutOfRangeException(nameof(strideA), "batch strides must not be negative");
        if (strideC < (long)(m - 1) * ldc + n) throw new ArgumentOutOfRangeException(nameof(strideC), $"C stride {strideC} makes the {m}×{n} outputs overlap");
        var last = batch - 1L;
        CheckMatrix("A", transA ? k : m, transA ? m : k, lda, aLength, last * strideA);
        CheckMatrix("B", transB ? n : k, transB ? k : n, ldb, bLength, last * strideB);
        CheckMatrix("C", m, n, ldc, cLength, last * strideC);
    }

    private static void CheckSyrk(bool trans, int n, int k, int aLength, int lda, int cLength, int ldc)
    {
        if (n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(n), $"negative SYRK size n={n}, k={k}");
        if (n == 0) return;
        CheckMatrix("A", trans ? k : n, trans ? n : k, lda, aLength);
        CheckMatrix("C", n, n, ldc, cLength);
    }

    private static void CheckSquare(int n, int length, int lda, string name)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), $"negative matrix order {n}");
        CheckMatrix(name, n, n, lda, length);
    }
}
