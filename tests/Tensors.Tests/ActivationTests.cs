using Offload.Tensors.Kernels;
using Offload.Tensors.Tests.Reference;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>SiLU, SwiGLU, softmax, log-softmax, RMSNorm and the f64-accumulated reductions against f64 references.</summary>
public sealed class ActivationTests
{
    private const double U = GemmTests.UnitRoundoffF32;

    /// <summary>SiLU/SwiGLU: e⁻ˣ (TensorPrimitives.Exp, within a few ulps), one add, one divide, one or two multiplies.
    /// Observed errors stay within 4 u; 16 u relative leaves a margin of 4.</summary>
    private const double ActivationUlps = 16;

    /// <summary>Softmax: rounding x − max in f32 perturbs the exponent by u·|x − max|, which e^(·) turns into that
    /// much relative error; exp, the f64 sum and the divide add a few u. Allowed: u·(|x − max| + 16). Log-softmax:
    /// rounding max + ln Σ and the subtraction cost u·|lse| and u·|y| ≤ u·(|x| + |lse|). Observed: within 4 extra u.</summary>
    private const double SoftmaxExtraUlps = 16;

    /// <summary>RMSNorm: scale rounded to f32 once, then two f32 multiplies (the f64 mean of squares adds nothing visible):
    /// 3 roundings of u/2 each; observed within 1.5 u; allowed 4 u relative.</summary>
    private const double RmsNormUlps = 4;

    /// <summary>Lengths 1..67, 255, 257, 4095 and the model widths.</summary>
    public static TheoryData<int> Widths()
    {
        var data = new TheoryData<int>();
        foreach (var n in Enumerable.Range(1, 67).Concat([255, 257, 4095, 2048, 4096, 11008, 14336])) data.Add(n);
        return data;
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Silu_and_swiglu_match_the_reference(int n)
    {
        var x = Rand.ToFloat(Rand.Uniform(n, n).Select(v => v * 12).ToArray()); // [−12, 12): both tails of σ
        var up = Rand.ToFloat(Rand.Uniform(n + 1, n));
        var silu = new float[n];
        Activations.Silu(x, silu);
        var swiglu = new float[n];
        Activations.SwiGlu(x, up, swiglu);
        for (var i = 0; i < n; i++)
        {
            var s = x[i] / (1 + Math.Exp(-(double)x[i]));
            AssertRelative(s, silu[i], ActivationUlps * U, $"silu({x[i]})");
            AssertRelative(s * up[i], swiglu[i], ActivationUlps * U, $"swiglu({x[i]}, {up[i]})");
        }
        // In place gives the same bits.
        var inPlace = (float[])x.Clone();
        Activations.Silu(inPlace, inPlace);
        Assert.Equal(silu, inPlace);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Softmax_and_log_softmax_match_the_reference_per_row(int cols)
    {
        const int rows = 3;
        // Row 0 spans ±20, row 1 sits near 1e4 (e^x would overflow without the max shift), row 2 near −1e4.
        var x = new float[rows * cols];
        var noise = Rand.Uniform(cols, rows * cols);
        for (var i = 0; i < cols; i++)
        {
            x[i] = (float)(noise[i] * 20);
            x[cols + i] = (float)(1e4 + noise[cols + i] * 30);
            x[2 * cols + i] = (float)(-1e4 + noise[2 * cols + i] * 30);
        }
        var y = new float[x.Length];
        Activations.Softmax(x, y, cols);
        var logY = new float[x.Length];
        Activations.LogSoftmax(x, logY, cols);
        for (var r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * cols, cols).ToArray();
            double max = row.Max();
            double sum = 0;
            foreach (var v in row) sum += Math.Exp(v - max);
            var lse = max + Math.Log(sum);
            for (var i = 0; i < cols; i++)
            {
                var expected = Math.Exp(row[i] - max) / sum;
                AssertRelative(expected, y[r * cols + i], U * (Math.Abs(row[i] - max) + SoftmaxExtraUlps), $"softmax row {r} col {i}");
                var allowed = U * (Math.Abs(row[i]) + 2 * Math.Abs(lse) + SoftmaxExtraUlps);
                if (!(Math.Abs(logY[r * cols + i] - (row[i] - lse)) <= allowed))
                    Assert.Fail($"log-softmax row {r} col {i}: {logY[r * cols + i]:R}, expected {row[i] - lse:R} ± {allowed:E2}");
            }
        }
    }

    [Fact]
    public void Softmax_of_a_fully_masked_row_is_NaN_and_other_rows_are_unaffected()
    {
        float[] x = [float.NegativeInfinity, float.NegativeInfinity, 0, 0];
        var y = new float[4];
        Activations.Softmax(x, y, 2);
        Assert.True(float.IsNaN(y[0]) && float.IsNaN(y[1]));
        Assert.Equal(new[] { 0.5f, 0.5f }, y[2..]);
        float[] masked = [float.NegativeInfinity, 1, 1];
        var z = new float[3];
        Activations.Softmax(masked, z, 3);
        Assert.Equal(new[] { 0f, 0.5f, 0.5f }, z);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void RmsNorm_matches_the_reference_per_row(int cols)
    {
        const int rows = 3;
        const float eps = 1e-5f;
        var x = Rand.ToFloat(Rand.Uniform(cols * 3, rows * cols));
        for (var i = 0; i < cols; i++) x[cols + i] *= 1000; // a loud row (outlier activations)
        var w = Rand.ToFloat(Rand.Uniform(cols * 3 + 1, cols));
        var y = new float[x.Length];
        Normalization.RmsNorm(x, w, eps, y, cols);
        for (var r = 0; r < rows; r++)
        {
            double ms = 0;
            for (var i = 0; i < cols; i++) ms += (double)x[r * cols + i] * x[r * cols + i];
            var scale = 1 / Math.Sqrt(ms / cols + eps);
            for (var i = 0; i < cols; i++)
                AssertRelative(x[r * cols + i] * scale * w[i], y[r * cols + i], RmsNormUlps * U, $"rmsnorm row {r} col {i}");
        }
        var inPlace = (float[])x.Clone();
        Normalization.RmsNorm(inPlace, w, eps, inPlace, cols);
        Assert.Equal(y, inPlace);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Reductions_accumulate_in_float64(int n)
    {
        var x = Rand.ToFloat(Rand.Uniform(n * 7, n).Select(v => v * 1e3).ToArray());
        var sum = Scalar.Dot2(i => x[i], _ => 1.0, n);
        var squares = Scalar.Dot2(i => x[i], i => x[i], n);
        double abs = 0, sq = 0;
        foreach (var v in x)
        {
            abs += Math.Abs(v);
            sq += (double)v * v;
        }
        // f64 summation of n exact terms: error ≤ n·u64·Σ|term|.
        Assert.InRange(Reductions.SumF64(x) - sum, -n * GemmTests.UnitRoundoffF64 * abs, n * GemmTests.UnitRoundoffF64 * abs);
        Assert.InRange(Reductions.SumOfSquaresF64(x) - squares, -n * GemmTests.UnitRoundoffF64 * sq, n * GemmTests.UnitRoundoffF64 * sq);
    }

    [Fact]
    public void Mismatched_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Activations.SwiGlu(new float[4], new float[3], new float[4]));
        Assert.Throws<ArgumentException>(() => Activations.Softmax(new float[5], new float[5], 2));
        Assert.Throws<ArgumentException>(() => Normalization.RmsNorm(new float[4], new float[3], 1e-6f, new float[4], 2));
    }

    private static void AssertRelative(double expected, float actual, double relTol, string what)
    {
        var allowed = relTol * Math.Abs(expected) + 1e-37; // floor: below f32's normal range
        if (!(Math.Abs(actual - expected) <= allowed))
            Assert.Fail($"{what} = {actual:R}, expected {expected:R} ± {allowed:E2}");
    }
}
