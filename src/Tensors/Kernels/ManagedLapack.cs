using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Offload.Tensors.Kernels;

/// <summary>
/// Managed SYRK, Cholesky (POTRF), triangular inverse (TRTRI) and inverse from the Cholesky factor (POTRI), row-major.
/// The O(n³) work goes through <see cref="ManagedGemm"/>; the unblocked pieces are row-oriented loops over
/// TensorPrimitives. Upper-triangle requests are served by the lower-triangle algorithms on a transposed copy.
/// </summary>
internal static unsafe class ManagedLapack
{
    /// <summary>Order below which the recursive algorithms switch to their unblocked loops.</summary>
    private const int NB = 64;

    /// <summary>Rows of C per SYRK step: big enough that each GEMM packs its B panel for many rows (the k dimension is
    /// the token count for a Hessian), small enough that the wasted half of each diagonal block stays a few percent.</summary>
    private const int SyrkRows = 192;

    // ---- SYRK ------------------------------------------------------------------------------------------------

    /// <summary>uplo triangle of C[n,n] = alpha·A·Aᵀ + beta·C (A: [n,k]) or alpha·Aᵀ·A + beta·C (trans, A: [k,n]).</summary>
    internal static void Syrk<T>(Triangle uplo, bool trans, int n, int k, T alpha, T* a, int lda, T beta, T* c, int ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Row block [i0, i0+ib) of C: the off-diagonal part is a plain GEMM straight into C, the diagonal block goes
        // through a small scratch tile so that only its own triangle is written.
        var scratch = (T*)NativeMemory.AlignedAlloc((nuint)(SyrkRows * SyrkRows * sizeof(T)), 64);
        try
        {
            for (var i0 = 0; i0 < n; i0 += SyrkRows)
            {
                var ib = Math.Min(SyrkRows, n - i0);
                // Row i of op(A) = row i of A (no trans) or column i of A (trans).
                var ai = trans ? a + i0 : a + (long)i0 * lda;
                if (uplo == Triangle.Lower && i0 > 0)
                    ManagedGemm.Gemm(trans, !trans, ib, i0, k, alpha, ai, lda, a, lda, beta, c + (long)i0 * ldc, ldc, threads);
                if (uplo == Triangle.Upper && i0 + ib < n)
                {
                    var aj = trans ? a + i0 + ib : a + (long)(i0 + ib) * lda;
                    ManagedGemm.Gemm(trans, !trans, ib, n - i0 - ib, k, alpha, ai, lda, aj, lda, beta, c + (long)i0 * ldc + i0 + ib, ldc, threads);
                }
                ManagedGemm.Gemm(trans, !trans, ib, ib, k, alpha, ai, lda, ai, lda, T.Zero, scratch, ib, threads);
                for (var r = 0; r < ib; r++)
                {
                    var from = uplo == Triangle.Lower ? 0 : r;
                    var to = uplo == Triangle.Lower ? r + 1 : ib;
                    var crow = c + (long)(i0 + r) * ldc + i0;
                    for (var j = from; j < to; j++)
                        crow[j] = beta == T.Zero ? scratch[r * ib + j] : scratch[r * ib + j] + beta * crow[j];
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(scratch);
        }
    }

    // ---- POTRF -----------------------------------------------------------------------------------------------

    /// <summary>Cholesky in place; returns 0 or j+1 for the first leading minor that is not positive definite.</summary>
    internal static int Potrf<T>(Triangle uplo, int n, T* a, int lda, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (uplo == Triangle.Lower) return PotrfLower(n, a, lda, threads);
        // A = Uᵀ·U with U upper is A = L·Lᵀ with L = Uᵀ: factor the transposed copy and transpose the factor back.
        var tmp = (T*)NativeMemory.AlignedAlloc((nuint)((long)n * n * sizeof(T)), 64);
        try
        {
            CopyTriangleTransposed(a, lda, Triangle.Upper, tmp, n, n);
            var info = PotrfLower(n, tmp, n, threads);
            CopyTriangleTransposed(tmp, n, Triangle.Lower, a, lda, n);
            return info;
        }
        finally
        {
            NativeMemory.AlignedFree(tmp);
        }
    }

    /// <summary>
    /// Recursive Cholesky of the lower triangle: factor A11 = L11·L11ᵀ, solve L21·L11ᵀ = A21, update
    /// A22 −= L21·L21ᵀ, factor A22. The solve and the update are GEMMs, so almost all n³/3 flops run in the packed kernel.
    /// </summary>
    private static int PotrfLower<T>(int n, T* a, int lda, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n <= NB) return PotrfLowerUnblocked(n, a, lda);
        var n1 = n / 2 / 8 * 8;
        var n2 = n - n1;
        var info = PotrfLower(n1, a, lda, threads);
        if (info != 0) return info;
        var a21 = a + (long)n1 * lda;
        var a22 = a21 + n1;
        SolveAgainstLowerTransposed(n2, n1, a21, lda, a, lda, threads);
        Syrk(Triangle.Lower, false, n2, n1, -T.One, a21, lda, T.One, a22, lda, threads);
        info = PotrfLower(n2, a22, lda, threads);
        return info == 0 ? 0 : n1 + info;
    }

    /// <summary>
    /// X·Lᵀ = B for B [rows, k] (overwritten by X), L lower [k, k]. Recursive on k: with L = [L11 0; L21 L22],
    /// X1 = B1·L11⁻ᵀ, then B2 −= X1·L21ᵀ (GEMM), X2 = B2·L22⁻ᵀ.
    /// </summary>
    private static void SolveAgainstLowerTransposed<T>(int rows, int k, T* b, int ldb, T* l, int ldl, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (k <= NB)
        {
            SolveRowsAgainstLowerTransposed(rows, k, b, ldb, l, ldl, threads);
            return;
        }
        var k1 = k / 2 / 8 * 8;
        var k2 = k - k1;
        SolveAgainstLowerTransposed(rows, k1, b, ldb, l, ldl, threads);
        var l21 = l + (long)k1 * ldl;
        ManagedGemm.Gemm(false, true, rows, k2, k1, -T.One, b, ldb, l21, ldl, T.One, b + k1, ldb, threads);
        SolveAgainstLowerTransposed(rows, k2, b + k1, ldb, l21 + k1, ldl, threads);
    }

    /// <summary>Row-oriented Cholesky: L[i,j] = (A[i,j] − L[i,:j]·L[j,:j]) / L[j,j], L[i,i] = √(A[i,i] − ‖L[i,:i]‖²).</summary>
    private static int PotrfLowerUnblocked<T>(int n, T* a, int lda) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < n; i++)
        {
            var rowI = a + (long)i * lda;
            for (var j = 0; j < i; j++)
            {
                var rowJ = a + (long)j * lda;
                var dot = TensorPrimitives.Dot(new ReadOnlySpan<T>(rowI, j), new ReadOnlySpan<T>(rowJ, j));
                rowI[j] = (rowI[j] - dot) / rowJ[j];
            }
            var d = rowI[i] - TensorPrimitives.Dot(new ReadOnlySpan<T>(rowI, i), new ReadOnlySpan<T>(rowI, i));
            if (!(d > T.Zero)) // also catches NaN
            {
                rowI[i] = d;
                return i + 1;
            }
            rowI[i] = T.Sqrt(d);
        }
        return 0;
    }

    /// <summary>X·Lᵀ = B row by row (B overwritten by X), for a small lower L [nb, nb] that stays in cache.</summary>
    private static void SolveRowsAgainstLowerTransposed<T>(int rows, int nb, T* bm, int ldb, T* l, int ldl, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var pb = (nint)bm;
        var pl = (nint)l;
        void SolveRow(int r)
        {
            var x = (T*)pb + (long)r * ldb;
            var lp = (T*)pl;
            // Row r: x[j] = (b[j] − x[:j]·L[j,:j]) / L[j,j], forward substitution.
            for (var j = 0; j < nb; j++)
            {
                var lrow = lp + (long)j * ldl;
                x[j] = (x[j] - TensorPrimitives.Dot(new ReadOnlySpan<T>(x, j), new ReadOnlySpan<T>(lrow, j))) / lrow[j];
            }
        }
        if (threads > 1 && (long)rows * nb * nb > 1L << 18)
            Parallel.For(0, rows, new ParallelOptions { MaxDegreeOfParallelism = threads }, SolveRow);
        else
            for (var r = 0; r < rows; r++) SolveRow(r);
    }

    // ---- TRTRI -----------------------------------------------------------------------------------------------

    /// <summary>Triangular inverse in place; returns 0 or j+1 when diagonal entry j is zero (then nothing is written).</summary>
    internal static int Trtri<T>(Triangle uplo, int n, T* a, int lda, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < n; i++)
            if (a[(long)i * lda + i] == T.Zero) return i + 1;
        var tmp = (T*)NativeMemory.AlignedAlloc((nuint)((long)n * n * sizeof(T)), 64);
        try
        {
            // Dense copy with explicit zeros (the other triangle of A is not ours to read); Uᵀ is lower.
            if (uplo == Triangle.Lower) CopyTriangle(a, lda, Triangle.Lower, tmp, n, n);
            else CopyTriangleTransposed(a, lda, Triangle.Upper, tmp, n, n);
            InvertLowerDense(n, tmp, n, threads);
            if (uplo == Triangle.Lower) CopyTriangle(tmp, n, Triangle.Lower, a, lda, n, zeroOther: false);
            else CopyTriangleTransposed(tmp, n, Triangle.Lower, a, lda, n);
            return 0;
        }
        finally
        {
            NativeMemory.AlignedFree(tmp);
        }
    }

    /// <summary>
    /// Recursive inverse of a dense lower-triangular block (zeros above the diagonal):
    /// [L11 0; L21 L22]⁻¹ = [X11 0; −X22·L21·X11 X22].
    /// </summary>
    private static void InvertLowerDense<T>(int n, T* a, int lda, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n <= NB)
        {
            InvertLowerUnblocked(n, a, lda);
            return;
        }
        var h = n / 2 / 8 * 8;
        var n2 = n - h;
        var a11 = a;
        var a21 = a + (long)h * lda;
        var a22 = a21 + h;
        InvertLowerDense(h, a11, lda, threads);
        InvertLowerDense(n2, a22, lda, threads);
        var tmp = (T*)NativeMemory.AlignedAlloc((nuint)((long)n2 * h * sizeof(T)), 64);
        try
        {
            ManagedGemm.Gemm(false, false, n2, h, h, T.One, a21, lda, a11, lda, T.Zero, tmp, h, threads);
            ManagedGemm.Gemm(false, false, n2, h, n2, -T.One, a22, lda, tmp, h, T.Zero, a21, lda, threads);
        }
        finally
        {
            NativeMemory.AlignedFree(tmp);
        }
    }

    /// <summary>Row i of X = L⁻¹ solves L·X = I: X[i,:] = (eᵢ − Σ_{k&lt;i} L[i,k]·X[k,:]) / L[i,i].</summary>
    private static void InvertLowerUnblocked<T>(int n, T* a, int lda) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var l = new T[n];
        for (var i = 0; i < n; i++)
        {
            var row = a + (long)i * lda;
            var lii = row[i];
            new ReadOnlySpan<T>(row, i).CopyTo(l);
            var x = new Span<T>(row, i + 1);
            x.Clear();
            x[i] = T.One;
            for (var k = 0; k < i; k++)
            {
                var xk = new ReadOnlySpan<T>(a + (long)k * lda, k + 1);
                TensorPrimitives.MultiplyAdd(xk, -l[k], x[..(k + 1)], x[..(k + 1)]);
            }
            TensorPrimitives.Divide(x, lii, x);
        }
    }

    // ---- POTRI -----------------------------------------------------------------------------------------------

    /// <summary>A⁻¹ from its Cholesky factor: with L the lower factor (A = L·Lᵀ, L = Uᵀ for Upper), A⁻¹ = L⁻ᵀ·L⁻¹ = Xᵀ·X.</summary>
    internal static int Potri<T>(Triangle uplo, int n, T* a, int lda, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < n; i++)
            if (a[(long)i * lda + i] == T.Zero) return i + 1;
        var tmp = (T*)NativeMemory.AlignedAlloc((nuint)((long)n * n * sizeof(T)), 64);
        try
        {
            if (uplo == Triangle.Lower) CopyTriangle(a, lda, Triangle.Lower, tmp, n, n);
            else CopyTriangleTransposed(a, lda, Triangle.Upper, tmp, n, n);
            InvertLowerDense(n, tmp, n, threads);
            LowerGram(uplo, n, tmp, n, a, lda, threads);
            return 0;
        }
        finally
        {
            NativeMemory.AlignedFree(tmp);
        }
    }

    /// <summary>
    /// The uplo triangle of C = Xᵀ·X for a dense lower-triangular X: C[i,j] = Σ_{p ≥ max(i,j)} X[p,i]·X[p,j]. Like
    /// <see cref="Syrk"/> with trans, but each row block sums only over the rows of X that can be non-zero (n³/3 flops, not n³).
    /// </summary>
    private static void LowerGram<T>(Triangle uplo, int n, T* x, int ldx, T* c, int ldc, int threads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var scratch = (T*)NativeMemory.AlignedAlloc((nuint)(SyrkRows * SyrkRows * sizeof(T)), 64);
        try
        {
            for (var i0 = 0; i0 < n; i0 += SyrkRows)
            {
                var ib = Math.Min(SyrkRows, n - i0);
                var below = x + (long)i0 * ldx; // rows p ≥ i0 of X
                if (uplo == Triangle.Lower && i0 > 0)
                    ManagedGemm.Gemm(true, false, ib, i0, n - i0, T.One, below + i0, ldx, below, ldx, T.Zero, c + (long)i0 * ldc, ldc, threads);
                if (uplo == Triangle.Upper && i0 + ib < n)
                {
                    // Columns j ≥ i0+ib: X[p, j] = 0 for p < j, so the sum starts at p = i0+ib.
                    var from = x + (long)(i0 + ib) * ldx;
                    ManagedGemm.Gemm(true, false, ib, n - i0 - ib, n - i0 - ib, T.One, from + i0, ldx, from + i0 + ib, ldx, T.Zero, c + (long)i0 * ldc + i0 + ib, ldc, threads);
                }
                ManagedGemm.Gemm(true, false, ib, ib, n - i0, T.One, below + i0, ldx, below + i0, ldx, T.Zero, scratch, ib, threads);
                for (var r = 0; r < ib; r++)
                {
                    var from = uplo == Triangle.Lower ? 0 : r;
                    var to = uplo == Triangle.Lower ? r + 1 : ib;
                    new ReadOnlySpan<T>(scratch + r * ib + from, to - from).CopyTo(new Span<T>(c + (long)(i0 + r) * ldc + i0 + from, to - from));
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(scratch);
        }
    }

    // ---- copies ----------------------------------------------------------------------------------------------

    /// <summary>dst = the <paramref name="tri"/> triangle of src (other triangle of dst zeroed when <paramref name="zeroOther"/>).</summary>
    private static void CopyTriangle<T>(T* src, int lds, Triangle tri, T* dst, int ldd, int n, bool zeroOther = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < n; i++)
        {
            var s = src + (long)i * lds;
            var d = dst + (long)i * ldd;
            if (tri == Triangle.Lower)
            {
                new ReadOnlySpan<T>(s, i + 1).CopyTo(new Span<T>(d, i + 1));
                if (zeroOther) new Span<T>(d + i + 1, n - i - 1).Clear();
            }
            else
            {
                new ReadOnlySpan<T>(s + i, n - i).CopyTo(new Span<T>(d + i, n - i));
                if (zeroOther) new Span<T>(d, i).Clear();
            }
        }
    }

    /// <summary>dst = transpose of the <paramref name="tri"/> triangle of src, which lands in the other triangle of dst;
    /// the remaining triangle of dst is zeroed only when dst is a dense scratch (ldd == n and the source is src's upper).</summary>
    private static void CopyTriangleTransposed<T>(T* src, int lds, Triangle tri, T* dst, int ldd, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Only the transposed triangle of dst is written; scratch buffers are zeroed first so they are dense.
        if (tri == Triangle.Upper)
        {
            // src upper (i ≤ j) → dst lower (j, i); dst is always a dense scratch here.
            for (var i = 0; i < n; i++) new Span<T>(dst + (long)i * ldd, n).Clear();
            for (var i = 0; i < n; i++)
            {
                var s = src + (long)i * lds;
                for (var j = i; j < n; j++) dst[(long)j * ldd + i] = s[j];
            }
        }
        else
        {
            // src lower (j ≤ i) → dst upper (j, i); dst is the caller's matrix: write only its upper triangle.
            for (var i = 0; i < n; i++)
            {
                var s = src + (long)i * lds;
                for (var j = 0; j <= i; j++) dst[(long)j * ldd + i] = s[j];
            }
        }
    }
}
