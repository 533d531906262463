using Offload.Tensors.Kernels;
using Offload.Tensors.Tests.Reference;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>GEMM on both backends, f32 and f64, all transposes, against the f64 scalar reference.</summary>
public sealed class GemmTests
{
    /// <summary>
    /// Allowed error of one entry, in units of u·(√k + 2)·bound, where u is the unit roundoff of the dtype and bound =
    /// |α|·Σ|a||b| + |β||c₀|. Worst-case analysis allows k·u·bound for any summation order; blocked FMA accumulation
    /// behaves like a random walk (√k), and the +2 covers the α, β and final roundings. The largest ratio observed on
    /// these cases is ≈0.9 (one or two ulps of a small-k result), so 2 leaves a margin of 2; a dropped or doubled term
    /// of a k-sum (≈ bound/k) still exceeds it at k = 14336.
    /// </summary>
    internal const double RoundingFactor = 2.0;

    public const double UnitRoundoffF32 = 1.0 / (1 << 24);
    public const double UnitRoundoffF64 = 1.0 / (1L << 53);

    /// <summary>Every size 1..67 as each of m, n and k; big and model widths as one dimension with the others small;
    /// a few shapes that cross the managed kernel's blocking (MC 96, KC 256/128, NC 2048) and its two-core split.</summary>
    public static IEnumerable<(int M, int N, int K)> Shapes()
    {
        for (var s = 1; s <= 67; s++) yield return (s, 68 - s, 5 * s % 67 + 1);
        foreach (var big in new[] { 255, 257, 4095, 2048, 4096, 11008, 14336 })
        {
            yield return (big, 3, 5);
            yield return (3, big, 5);
            yield return (3, 5, big);
        }
        yield return (257, 255, 513);
        yield return (100, 300, 200);
        yield return (40, 2100, 130);
    }

    public static TheoryData<string, bool, bool, bool, int, int, int> Cases()
    {
        var data = new TheoryData<string, bool, bool, bool, int, int, int>();
        foreach (var backend in Backends.All)
        foreach (var f64 in new[] { false, true })
        foreach (var (m, n, k) in Shapes())
        foreach (var ta in new[] { false, true })
        foreach (var tb in new[] { false, true })
            data.Add(backend, f64, ta, tb, m, n, k);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gemm_matches_the_float64_reference(string backend, bool f64, bool transA, bool transB, int m, int n, int k)
    {
        // Odd shapes also get alpha/beta ≠ 1/0 and padded leading dimensions; even ones beta = 0 over a NaN-filled C.
        var odd = (m + n + k) % 2 == 1;
        var alpha = odd ? -0.75 : 1.0;
        var beta = odd ? 0.5 : 0.0;
        var pad = (m + n + k) % 3;
        var (ar, ac) = transA ? (k, m) : (m, k);
        var (br, bc) = transB ? (n, k) : (k, n);
        int lda = ac + pad, ldb = bc + pad, ldc = n + pad;
        var seed = m * 1_000_003 + n * 1009 + k * 7 + (transA ? 1 : 0) + (transB ? 2 : 0);
        var a = Rand.Uniform(seed, (long)ar * lda, f32: !f64);
        var b = Rand.Uniform(seed + 1, (long)br * ldb, f32: !f64);
        var c0 = odd ? Rand.Uniform(seed + 2, (long)m * ldc, f32: !f64) : Enumerable.Repeat(double.NaN, m * ldc).ToArray();

        var (expected, bound) = Scalar.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc);
        var actual = Run(Backends.Get(backend), f64, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc);

        var u = f64 ? UnitRoundoffF64 : UnitRoundoffF32;
        AssertClose(expected, bound, actual, m, n, ldc, RoundingFactor * u * (Math.Sqrt(k) + 2));
        // The padding between rows of C is never written.
        for (var i = 0; i < m; i++)
        for (var j = n; j < ldc; j++)
            if (BitConverter.DoubleToInt64Bits(c0[i * ldc + j]) != BitConverter.DoubleToInt64Bits(actual[i * ldc + j]))
                Assert.Fail($"padding C[{i},{j}] was written");
    }

    [Theory]
    [InlineData(Backends.OpenBlas)]
    [InlineData(Backends.Managed)]
    public void K_zero_scales_C_by_beta(string backend)
    {
        var blas = Backends.Get(backend);
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        blas.Sgemm(false, false, 2, 3, 0, 1f, [], 1, [], 3, 0.5f, c, 3);
        Assert.Equal(new float[] { 0.5f, 1, 1.5f, 2, 2.5f, 3 }, c);
        var d = new double[] { double.NaN, 2 };
        blas.Dgemm(true, true, 1, 2, 0, 1.0, [], 1, [], 1, 0.0, d, 2);
        Assert.Equal(new double[] { 0, 0 }, d);
    }

    [Theory]
    [InlineData(Backends.OpenBlas)]
    [InlineData(Backends.Managed)]
    public void Alpha_zero_reads_neither_A_nor_B(string backend)
    {
        var blas = Backends.Get(backend);
        var a = new float[] { float.NaN, float.NaN, float.NaN, float.NaN };
        var c = new float[] { 1, 2, 3, 4 };
        blas.Sgemm(false, false, 2, 2, 2, 0f, a, 2, a, 2, 2f, c, 2);
        Assert.Equal(new float[] { 2, 4, 6, 8 }, c);
    }

    [Theory]
    [InlineData(Backends.OpenBlas)]
    [InlineData(Backends.Managed)]
    public void Short_spans_and_bad_leading_dimensions_are_rejected_before_any_call(string backend)
    {
        var blas = Backends.Get(backend);
        var a = new float[6];
        var c = new float[4];
        Assert.Throws<ArgumentException>(() => blas.Sgemm(false, false, 2, 2, 3, 1f, a, 3, new float[5], 2, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => blas.Sgemm(false, false, 2, 2, 3, 1f, a, 3, new float[6], 2, 0f, new float[3], 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => blas.Sgemm(false, false, 2, 2, 3, 1f, a, 2, new float[6], 2, 0f, c, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => blas.Dgemm(false, false, -1, 2, 3, 1, new double[6], 3, new double[6], 2, 0, new double[4], 2));
    }

    [Fact]
    public void Gemm_runs_on_the_backend_of_the_current_scope()
    {
        var counting = new CountingBackend(Blas.Managed);
        var c = new float[1];
        using (Blas.Scope(counting))
        {
            Assert.Same(counting, Blas.Current);
            Gemm.Sgemm(false, false, 1, 1, 1, 1f, [2f], 1, [3f], 1, 0f, c, 1);
        }
        Assert.NotSame(counting, Blas.Current);
        Assert.Equal(1, counting.GemmCalls);
        Assert.Equal(6f, c[0]);
    }

    internal static double[] Run(BlasBackend blas, bool f64, bool transA, bool transB, int m, int n, int k, double alpha,
        double[] a, int lda, double[] b, int ldb, double beta, double[] c0, int ldc)
    {
        if (f64)
        {
            var c = (double[])c0.Clone();
            blas.Dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return c;
        }
        var cf = Rand.ToFloat(c0);
        blas.Sgemm(transA, transB, m, n, k, (float)alpha, Rand.ToFloat(a), lda, Rand.ToFloat(b), ldb, (float)beta, cf, ldc);
        return Rand.ToDouble(cf);
    }

    /// <summary>Asserts |actual − expected| ≤ tol·bound + (a subnormal-sized floor) for every entry of an [m,n] result.</summary>
    internal static void AssertClose(double[] expected, double[] bound, double[] actual, int m, int n, int ldActual, double tol)
    {
        for (var i = 0; i < m; i++)
        for (var j = 0; j < n; j++)
        {
            var e = expected[i * n + j];
            var got = actual[i * ldActual + j];
            var allowed = tol * bound[i * n + j] + 1e-30;
            if (!(Math.Abs(got - e) <= allowed))
                Assert.Fail($"C[{i},{j}] = {got:R}, expected {e:R} ± {allowed:E2} (error {Math.Abs(got - e):E2}, {Math.Abs(got - e) / allowed:F2}× the tolerance)");
        }
    }
}
