namespace Offload.Tensors.Tests.Reference;

/// <summary>
/// Slow float64 scalar references, written independently of the code under test (no spans of the library, no SIMD).
/// f32 inputs are exact in f64 and so are their products; sums use a compensated dot product (Ogita–Rump–Oishi
/// Dot2), so a reference value is as accurate as if computed in twice the f64 precision, then rounded.
/// </summary>
internal static class Scalar
{
    /// <summary>Σ x_p·y_p with error ≈ u64·|result| + u64²·Σ|x_p·y_p| (Dot2 with FMA-based TwoProduct).</summary>
    public static double Dot2(Func<int, double> x, Func<int, double> y, int n)
    {
        double s = 0, c = 0;
        for (var p = 0; p < n; p++)
        {
            var prod = x(p) * y(p);
            var prodErr = Math.FusedMultiplyAdd(x(p), y(p), -prod);
            var t = s + prod;
            var z = t - s;
            var sumErr = (s - (t - z)) + (prod - z);
            s = t;
            c += sumErr + prodErr;
        }
        return s + c;
    }

    /// <summary>
    /// Reference GEMM: returns (C, bound) where C = alpha·op(A)·op(B) + beta·C0 and bound = |alpha|·Σ|op(A)||op(B)| + |beta|·|C0|,
    /// the magnitude that rounding errors of any summation order scale with. Matrices are row-major with leading dimensions.
    /// Rows that <paramref name="rows"/> rejects are left NaN (to keep the reference cheap for big outputs).
    /// </summary>
    public static (double[] C, double[] Bound) Gemm(bool transA, bool transB, int m, int n, int k, double alpha,
        double[] a, int lda, double[] b, int ldb, double beta, double[] c0, int ldc, Func<int, bool>? rows = null)
    {
        var c = new double[m * n];
        var bound = new double[m * n];
        Array.Fill(c, double.NaN);
        for (var i = 0; i < m; i++)
        for (var j = 0; j < n; j++)
        {
            if (rows is not null && !rows(i)) break;
            int ii = i, jj = j;
            double A(int p) => transA ? a[p * lda + ii] : a[ii * lda + p];
            double B(int p) => transB ? b[jj * ldb + p] : b[p * ldb + jj];
            var dot = Dot2(A, B, k);
            double abs = 0;
            for (var p = 0; p < k; p++) abs += Math.Abs(A(p) * B(p));
            var old = beta == 0 ? 0 : c0[i * ldc + j];
            c[i * n + j] = alpha * dot + beta * old;
            bound[i * n + j] = Math.Abs(alpha) * abs + Math.Abs(beta * old);
        }
        return (c, bound);
    }

    /// <summary>Reference Cholesky A = L·Lᵀ of a dense symmetric [n,n] matrix (lower factor, zeros above).</summary>
    public static double[] CholeskyLower(double[] a, int n)
    {
        var l = new double[n * n];
        for (var i = 0; i < n; i++)
        for (var j = 0; j <= i; j++)
        {
            int ii = i, jj = j;
            var s = a[i * n + j] - Dot2(p => l[ii * n + p], p => l[jj * n + p], j);
            if (i == j)
            {
                if (s <= 0) throw new InvalidOperationException($"reference Cholesky: not positive definite at {i}");
                l[i * n + i] = Math.Sqrt(s);
            }
            else
            {
                l[i * n + j] = s / l[j * n + j];
            }
        }
        return l;
    }

    /// <summary>Reference inverse of a lower-triangular [n,n] matrix by forward substitution on each unit vector.</summary>
    public static double[] InverseLower(double[] l, int n)
    {
        var x = new double[n * n];
        for (var col = 0; col < n; col++)
        for (var i = col; i < n; i++)
        {
            int ii = i;
            var s = (i == col ? 1.0 : 0.0) - Dot2(p => l[ii * n + col + p], p => x[(col + p) * n + col], i - col);
            x[i * n + col] = s / l[i * n + i];
        }
        return x;
    }

    /// <summary>y = M·v (dense row-major [n,n]) and |M|·|v|, in f64.</summary>
    public static (double[] Y, double[] Abs) MatVec(Func<int, int, double> m, double[] v, int n)
    {
        var y = new double[n];
        var abs = new double[n];
        for (var i = 0; i < n; i++)
        {
            int ii = i;
            y[i] = Dot2(j => m(ii, j), j => v[j], n);
            double s = 0;
            for (var j = 0; j < n; j++) s += Math.Abs(m(i, j) * v[j]);
            abs[i] = s;
        }
        return (y, abs);
    }
}
