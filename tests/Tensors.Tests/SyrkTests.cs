using Offload.Tensors.Kernels;
using Offload.Tensors.Tests.Reference;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>SYRK (one triangle of α·A·Aᵀ + β·C or α·Aᵀ·A + β·C) on both backends against the f64 reference GEMM.</summary>
public sealed class SyrkTests
{
    /// <summary>n = 1..67 with k cycling over 1..67; big n (255, 257, 2048) with small k; 4095 and model widths as k
    /// (the Hessian case: tokens × width, summed over tokens); one shape over several of the managed 64-row blocks.</summary>
    public static TheoryData<string, bool, Triangle, bool, int, int> Cases()
    {
        var shapes = new List<(int, int)>();
        for (var s = 1; s <= 67; s++) shapes.Add((s, 5 * s % 67 + 1));
        foreach (var big in new[] { 255, 257, 2048 }) shapes.Add((big, 3));
        foreach (var width in new[] { 255, 257, 4095, 2048, 4096, 11008, 14336 }) shapes.Add((5, width));
        shapes.Add((200, 300));
        var data = new TheoryData<string, bool, Triangle, bool, int, int>();
        foreach (var backend in Backends.All)
        foreach (var f64 in new[] { false, true })
        foreach (var uplo in new[] { Triangle.Lower, Triangle.Upper })
        foreach (var trans in new[] { false, true })
        foreach (var (n, k) in shapes)
            data.Add(backend, f64, uplo, trans, n, k);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Syrk_updates_one_triangle_like_the_reference(string backend, bool f64, Triangle uplo, bool trans, int n, int k)
    {
        var odd = (n + k) % 2 == 1;
        var alpha = odd ? 0.5 : 1.0;
        var beta = odd ? -1.5 : 0.0;
        var pad = (n + k) % 3;
        var (ar, ac) = trans ? (k, n) : (n, k);
        int lda = ac + pad, ldc = n + pad;
        var a = Rand.Uniform(n * 131 + k, (long)ar * lda, f32: !f64);
        var c0 = Rand.Uniform(n * 131 + k + 1, (long)n * ldc, f32: !f64);
        if (!odd)
            for (var row = 0; row < n; row++)
            for (var col = 0; col < n; col++)
                if (uplo == Triangle.Lower ? col <= row : col >= row) c0[row * ldc + col] = double.NaN; // beta = 0 must not read C

        // C = α·op(A)·op(A)ᵀ: op(A) = A for no-trans ([n,k]), Aᵀ for trans ([k,n] stored).
        // For n in the thousands the reference covers every 61st row and the last one (all their columns).
        Func<int, bool>? rows = n > 300 ? i => i % 61 == 0 || i == n - 1 : null;
        var (expected, bound) = Scalar.Gemm(trans, !trans, n, n, k, alpha, a, lda, a, lda, beta, c0, ldc, rows);
        var blas = Backends.Get(backend);
        double[] actual;
        if (f64)
        {
            actual = (double[])c0.Clone();
            blas.Dsyrk(uplo, trans, n, k, alpha, a, lda, beta, actual, ldc);
        }
        else
        {
            var cf = Rand.ToFloat(c0);
            blas.Ssyrk(uplo, trans, n, k, (float)alpha, Rand.ToFloat(a), lda, (float)beta, cf, ldc);
            actual = Rand.ToDouble(cf);
        }

        var tol = GemmTests.RoundingFactor * (f64 ? GemmTests.UnitRoundoffF64 : GemmTests.UnitRoundoffF32) * (Math.Sqrt(k) + 2);
        for (var i = 0; i < n; i++)
        for (var j = 0; j < ldc; j++)
        {
            var inTriangle = j < n && (uplo == Triangle.Lower ? j <= i : j >= i);
            var got = actual[i * ldc + j];
            if (!inTriangle)
            {
                if (BitConverter.DoubleToInt64Bits(c0[i * ldc + j]) != BitConverter.DoubleToInt64Bits(got))
                    Assert.Fail($"C[{i},{j}] outside the {uplo} triangle changed from {c0[i * ldc + j]:R} to {got:R}");
                continue;
            }
            var e = expected[i * n + j];
            if (rows is not null && !rows(i)) continue;
            var allowed = tol * bound[i * n + j] + 1e-30;
            if (!(Math.Abs(got - e) <= allowed)) Assert.Fail($"C[{i},{j}] = {got:R}, expected {e:R} ± {allowed:E2}");
        }
    }
}
