using Offload.Protocol;
using Offload.Tensors.Kernels;
using Offload.Tensors.Tests.Reference;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>Tensor-level ops: routing through GEMM without copies, dtype handling, shapes, values against f64 references.</summary>
public sealed unsafe class OpsTests
{
    [Fact]
    public void Linear_with_f32_weights_hands_the_tensors_own_memory_to_the_GEMM()
    {
        using var x = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(1, 6 * 10)), 6, 10);
        using var w = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(2, 4 * 10)), 4, 10);
        var counting = new CountingBackend(Blas.Managed);
        Tensor y;
        using (Blas.Scope(counting)) y = Ops.Linear(x, w);
        using (y)
        {
            Assert.Equal(1, counting.GemmCalls);
            Assert.Equal((nint)x.Pointer, counting.LastA);
            Assert.Equal((nint)w.Pointer, counting.LastB);
            Assert.Equal((nint)y.Pointer, counting.LastC);
            Assert.Equal(0f, counting.LastBeta);
        }
    }

    [Fact]
    public void MatMulInto_writes_into_the_given_tensor_without_copies()
    {
        using var a = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(3, 5 * 7)), 7, 5);
        using var b = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(4, 7 * 9)), 7, 9);
        using var c = Tensor.Empty(DType.F32, 5, 9);
        var counting = new CountingBackend(Blas.Managed);
        using (Blas.Scope(counting)) Ops.MatMulInto(a, b, c, transA: true);
        Assert.Equal(((nint)a.Pointer, (nint)b.Pointer, (nint)c.Pointer), (counting.LastA, counting.LastB, counting.LastC));
        var (expected, bound) = Scalar.Gemm(true, false, 5, 9, 7, 1, Rand.ToDouble(a.ReadOnlySpan<float>()), 5, Rand.ToDouble(b.ReadOnlySpan<float>()), 9, 0, new double[45], 9);
        GemmTests.AssertClose(expected, bound, Rand.ToDouble(c.ReadOnlySpan<float>()), 5, 9, 9, GemmTests.RoundingFactor * GemmTests.UnitRoundoffF32 * (Math.Sqrt(7) + 2));
    }

    [Theory]
    [InlineData(Backends.OpenBlas, DType.F32)]
    [InlineData(Backends.OpenBlas, DType.BF16)]
    [InlineData(Backends.OpenBlas, DType.F16)]
    [InlineData(Backends.Managed, DType.F32)]
    [InlineData(Backends.Managed, DType.BF16)]
    [InlineData(Backends.Managed, DType.F16)]
    public void Linear_with_bias_matches_the_reference_for_each_weight_dtype(string backend, DType weightDType)
    {
        const int tokens = 13, inF = 257, outF = 67;
        using var x = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(5, tokens * inF)), tokens, inF);
        using var w32 = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(6, outF * inF)), outF, inF);
        using var w = w32.To(weightDType);
        using var bias = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(7, outF)), outF);
        Tensor y;
        using (Blas.Scope(Backends.Get(backend))) y = Ops.Linear(x, w, bias);
        using (y)
        {
            Assert.Equal(new long[] { tokens, outF }, y.Shape.ToArray());
            // The reference sees the weight as stored (bf16/f16 values are exact in f64) and adds the bias as a β·C term.
            var wd = w.ToDoubleArray();
            var c0 = new double[tokens * outF];
            for (var t = 0; t < tokens; t++)
            for (var o = 0; o < outF; o++) c0[t * outF + o] = bias.ReadOnlySpan<float>()[o];
            var (expected, bound) = Scalar.Gemm(false, true, tokens, outF, inF, 1, x.ToDoubleArray(), inF, wd, inF, 1, c0, outF);
            GemmTests.AssertClose(expected, bound, y.ToDoubleArray(), tokens, outF, outF,
                GemmTests.RoundingFactor * GemmTests.UnitRoundoffF32 * (Math.Sqrt(inF) + 2));
        }
    }

    [Fact]
    public void Linear_takes_leading_dimensions_as_tokens_and_rejects_a_wrong_width()
    {
        using var x = Tensor.Zeros(DType.F32, 2, 3, 8);
        using var w = Tensor.Zeros(DType.BF16, 5, 8);
        using var y = Ops.Linear(x, w);
        Assert.Equal(new long[] { 6, 5 }, y.Shape.ToArray());
        using var bad = Tensor.Zeros(DType.F32, 5, 7);
        Assert.Throws<ArgumentException>(() => Ops.Linear(x, bad));
        using var wrongBias = Tensor.Zeros(DType.F32, 4);
        Assert.Throws<ArgumentException>(() => Ops.Linear(x, w, wrongBias));
    }

    [Theory]
    [InlineData(Backends.OpenBlas, false)]
    [InlineData(Backends.OpenBlas, true)]
    [InlineData(Backends.Managed, false)]
    [InlineData(Backends.Managed, true)]
    public void BatchedMatMul_multiplies_each_entry_and_can_share_B(string backend, bool sharedB)
    {
        const int batch = 4, m = 9, k = 33, n = 17;
        using var a = Tensor.FromArray(Rand.ToFloat(Rand.Uniform(11, batch * m * k)), batch, m, k);
        using var b = sharedB
            ? Tensor.FromArray(Rand.ToFloat(Rand.Uniform(12, n * k)), n, k)
            : Tensor.FromArray(Rand.ToFloat(Rand.Uniform(12, batch * n * k)), batch, n, k);
        Tensor c;
        using (Blas.Scope(Backends.Get(backend))) c = Ops.BatchedMatMul(a, b, transB: true);
        using (c)
        {
            Assert.Equal(new long[] { batch, m, n }, c.Shape.ToArray());
            var ad = a.ToDoubleArray();
            var bd = b.ToDoubleArray();
            var cd = c.ToDoubleArray();
            for (var e = 0; e < batch; e++)
            {
                var be = sharedB ? bd : bd[(e * n * k)..((e + 1) * n * k)];
                var (expected, bound) = Scalar.Gemm(false, true, m, n, k, 1, ad[(e * m * k)..((e + 1) * m * k)], k, be, k, 0, new double[m * n], n);
                GemmTests.AssertClose(expected, bound, cd[(e * m * n)..((e + 1) * m * n)], m, n, n, GemmTests.RoundingFactor * GemmTests.UnitRoundoffF32 * (Math.Sqrt(k) + 2));
            }
        }
    }

    [Fact]
    public void Elementwise_ops_keep_the_shape_and_match_the_reference()
    {
        const int rows = 3, cols = 11;
        var xv = Rand.ToFloat(Rand.Uniform(21, rows * cols).Select(v => v * 6).ToArray());
        var gv = Rand.ToFloat(Rand.Uniform(22, rows * cols));
        using var x = Tensor.FromArray(xv, rows, cols);
        using var g = Tensor.FromArray(gv, rows, cols);
        using var wBf16 = Tensor.FromArray(Enumerable.Repeat(2f, cols).ToArray(), cols).To(DType.BF16);
        using var sum = Ops.Add(x, g);
        using var prod = Ops.Multiply(x, g);
        using var silu = Ops.Silu(x);
        using var swiglu = Ops.SwiGlu(x, g);
        using var soft = Ops.Softmax(x);
        using var norm = Ops.RmsNorm(x, wBf16, 1e-6f);
        foreach (var t in new[] { sum, prod, silu, swiglu, soft, norm }) Assert.Equal(new long[] { rows, cols }, t.Shape.ToArray());
        const double tol = 16 * GemmTests.UnitRoundoffF32; // a handful of f32 roundings per value; see ActivationTests for the per-kernel bounds
        for (var i = 0; i < rows * cols; i++)
        {
            double xi = xv[i], gi = gv[i];
            var s = xi / (1 + Math.Exp(-xi));
            Assert.Equal(xi + gi, sum.ReadOnlySpan<float>()[i], tol * Math.Abs(xi + gi) + 1e-37);
            Assert.Equal(xi * gi, prod.ReadOnlySpan<float>()[i], tol * Math.Abs(xi * gi) + 1e-37);
            Assert.Equal(s, silu.ReadOnlySpan<float>()[i], tol * Math.Abs(s) + 1e-37);
            Assert.Equal(s * gi, swiglu.ReadOnlySpan<float>()[i], tol * Math.Abs(s * gi) + 1e-37);
        }
        for (var r = 0; r < rows; r++)
        {
            var row = xv.AsSpan(r * cols, cols).ToArray();
            double max = row.Max(), z = row.Sum(v => Math.Exp(v - max)), ms = row.Sum(v => (double)v * v) / cols;
            for (var i = 0; i < cols; i++)
            {
                var p = Math.Exp(row[i] - max) / z;
                Assert.Equal(p, soft.ReadOnlySpan<float>()[r * cols + i], tol * (1 + Math.Abs(row[i] - max)) * p + 1e-37);
                var nv = row[i] / Math.Sqrt(ms + 1e-6) * 2;
                Assert.Equal(nv, norm.ReadOnlySpan<float>()[r * cols + i], tol * Math.Abs(nv) + 1e-37);
            }
        }
        using var other = Tensor.Zeros(DType.F32, cols, rows);
        Assert.Throws<ArgumentException>(() => Ops.Add(x, other));
        using var halfX = x.To(DType.F16);
        Assert.Throws<ArgumentException>(() => Ops.Silu(halfX));
    }
}
