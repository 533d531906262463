using Offload.Tensors.Tests.Reference;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>Batched GEMM on both backends against the f64 reference applied to each batch entry.</summary>
public sealed class BatchedGemmTests
{
    /// <summary>Shapes as in <see cref="GemmTests.Shapes"/> (sizes 1..67 in every role, model widths as k), with 1–4 entries;
    /// every third shape shares one B across the batch (stride 0), as a weight shared by all heads would be.</summary>
    public static TheoryData<string, bool, bool, bool, int, int, int, int> Cases()
    {
        var data = new TheoryData<string, bool, bool, bool, int, int, int, int>();
        var shapes = new List<(int, int, int)>();
        for (var s = 1; s <= 67; s++) shapes.Add((s, 68 - s, 5 * s % 67 + 1));
        foreach (var big in new[] { 255, 257, 4095, 2048, 4096, 11008, 14336 }) shapes.Add((3, 5, big));
        shapes.Add((100, 70, 300));
        foreach (var backend in Backends.All)
        foreach (var f64 in new[] { false, true })
        foreach (var (m, n, k) in shapes)
        foreach (var ta in new[] { false, true })
        foreach (var tb in new[] { false, true })
            data.Add(backend, f64, ta, tb, m, n, k, 1 + (m + k) % 4);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_batch_entry_matches_the_float64_reference(string backend, bool f64, bool transA, bool transB, int m, int n, int k, int batch)
    {
        var sharedB = (m + n) % 3 == 0;
        var (ar, ac) = transA ? (k, m) : (m, k);
        var (br, bc) = transB ? (n, k) : (k, n);
        // Strides leave a gap of 2 elements between entries, which must stay untouched in C.
        long strideA = (long)ar * ac + 2, strideB = sharedB ? 0 : (long)br * bc + 2, strideC = (long)m * n + 2;
        var seed = m * 7919 + n * 31 + k + batch;
        var a = Rand.Uniform(seed, strideA * batch, f32: !f64);
        var b = Rand.Uniform(seed + 1, sharedB ? (long)br * bc : strideB * batch, f32: !f64);
        var c0 = Rand.Uniform(seed + 2, strideC * batch, f32: !f64);
        const double alpha = 1.25, beta = -0.5;

        var blas = Backends.Get(backend);
        double[] actual;
        if (f64)
        {
            actual = (double[])c0.Clone();
            blas.DgemmBatched(transA, transB, m, n, k, alpha, a, ac, strideA, b, bc, strideB, beta, actual, n, strideC, batch);
        }
        else
        {
            var cf = Rand.ToFloat(c0);
            blas.SgemmBatched(transA, transB, m, n, k, (float)alpha, Rand.ToFloat(a), ac, strideA, Rand.ToFloat(b), bc, strideB, (float)beta, cf, n, strideC, batch);
            actual = Rand.ToDouble(cf);
        }

        var u = f64 ? GemmTests.UnitRoundoffF64 : GemmTests.UnitRoundoffF32;
        for (var e = 0; e < batch; e++)
        {
            var ae = a.AsSpan((int)(e * strideA), ar * ac).ToArray();
            var be = b.AsSpan((int)(e * strideB), br * bc).ToArray();
            var ce = c0.AsSpan((int)(e * strideC), m * n).ToArray();
            var (expected, bound) = Scalar.Gemm(transA, transB, m, n, k, alpha, ae, ac, be, bc, beta, ce, n);
            GemmTests.AssertClose(expected, bound, actual.AsSpan((int)(e * strideC), m * n).ToArray(), m, n, n,
                GemmTests.RoundingFactor * u * (Math.Sqrt(k) + 2));
            if (e < batch - 1)
            {
                Assert.Equal(c0[e * strideC + m * n], actual[e * strideC + m * n]);
                Assert.Equal(c0[e * strideC + m * n + 1], actual[e * strideC + m * n + 1]);
            }
        }
    }

    [Theory]
    [InlineData(Backends.OpenBlas)]
    [InlineData(Backends.Managed)]
    public void Overlapping_outputs_and_short_spans_are_rejected(string backend)
    {
        var blas = Backends.Get(backend);
        var a = new float[12];
        Assert.Throws<ArgumentOutOfRangeException>(() => blas.SgemmBatched(false, false, 2, 2, 3, 1f, a, 3, 6, a, 2, 0, 0f, new float[8], 2, 3, 2));
        Assert.Throws<ArgumentException>(() => blas.SgemmBatched(false, false, 2, 2, 3, 1f, a, 3, 7, a, 2, 0, 0f, new float[8], 2, 4, 2));
    }
}
