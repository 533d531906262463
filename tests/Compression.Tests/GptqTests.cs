using Offload.Compression.Gptq;
using Offload.Compression.Quantization;
using Offload.Protocol;
using Xunit;

namespace Offload.Compression.Tests;

public class GptqTests
{
    /// <summary>The acceptance bound on dequantized weights against the f64 reference (f32 sweep round-off is ~1e-7).</summary>
    private const double WeightTolerance = 1e-5;

    /// <summary>f32 SYRK versus an f64 sum over 300 tokens of O(1) values.</summary>
    private const double HessianRelTolerance = 1e-5;

    private static (float[] W, float[] H, double[] Wd, double[] Hd) Problem(int rows, int cols, int tokens, int seed, int deadColumn = -1)
    {
        var rng = new Random(seed);
        var w = new float[rows * cols];
        for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
        // Correlated inputs with column scales of different sizes, so actorder changes the order.
        var x = new float[tokens * cols];
        for (var t = 0; t < tokens; t++)
        {
            var common = rng.NextDouble() * 2 - 1;
            for (var c = 0; c < cols; c++)
                x[t * cols + c] = c == deadColumn ? 0f : (float)((rng.NextDouble() * 2 - 1 + 0.5 * common) * (1 + (c * 7 % 5)));
        }
        var acc = new HessianAccumulator(cols);
        acc.Add(x, tokens, 3);
        var h = acc.Normalized();
        return (w, h, w.Select(v => (double)v).ToArray(), h.Select(v => (double)v).ToArray());
    }

    public static TheoryData<string?, string, bool> Modes()
    {
        var d = new TheoryData<string?, string, bool>();
        foreach (var a in new[] { null, "weight", "static", "group" })
        foreach (var s in new[] { "tensor", "channel", "group" })
        foreach (var sym in new[] { true, false })
        {
            if (a == "group" && s != "group") continue;
            d.Add(a, s, sym);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void Gptq_equals_the_f64_reference(string? actorder, string strategy, bool symmetric)
    {
        const int rows = 12, cols = 40, group = 8, block = 16;
        var (w, h, wd, hd) = Problem(rows, cols, 300, 17 + (actorder?.Length ?? 0) * 3 + strategy.Length + (symmetric ? 1 : 0), deadColumn: 5);
        var args = QuantizationArgs.Create(4, symmetric: symmetric, groupSize: strategy == "group" ? group : null,
            strategy: QuantizationNames.ParseStrategy(strategy, "t"),
            actOrder: actorder is null ? null : QuantizationNames.ParseActOrder(actorder, "t"));
        var got = GptqSolver.QuantizeWeight(w, rows, cols, h, args, DType.F32, new GptqOptions { BlockSize = block });
        var refOrder = actorder switch { null => null, "group" => "group", _ => "weight" };
        var expected = GptqReference.Quantize(wd, rows, cols, hd, 4, symmetric, strategy, group, refOrder, block, 0.01);
        Assert.False(got.FellBackToRtn);
        var maxDiff = 0.0;
        for (var i = 0; i < w.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(got.Weight[i] - expected.Weight[i]));
        Assert.True(maxDiff <= WeightTolerance, $"max |Δw| = {maxDiff:E3}");
        for (var r = 0; r < rows; r++) Assert.Equal(0f, got.Weight[r * cols + 5]); // the dead column
        if (actorder == "group") Assert.Equal(expected.GIdx, got.GIdx);
        else Assert.Null(got.GIdx);
        for (var k = 0; k < expected.Scale.Length; k++) Assert.Equal(expected.Scale[k], got.QParams.Scale[k], 1e-6);
        Assert.Equal(expected.ZeroPoint, got.QParams.ZeroPoint);
        Assert.True(got.Loss >= 0);
    }

    [Fact]
    public void Diagonal_hessian_without_actorder_is_round_to_nearest()
    {
        const int rows = 6, cols = 8;
        var rng = new Random(3);
        var w = new float[rows * cols];
        for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() - 0.5);
        var h = new float[cols * cols];
        for (var i = 0; i < cols; i++) h[i * cols + i] = i + 1; // diag(1..8), as the reference test
        var args = QuantizationArgs.Create(4, groupSize: 2);
        var got = GptqSolver.QuantizeWeight(w, rows, cols, h, args, DType.F32);
        var qp = WeightObserver.Observe(w, rows, cols, args, DType.F32);
        var rtn = new float[w.Length];
        WeightQuantizer.FakeQuantize(w, qp, args, DType.F32, rtn);
        Assert.Equal(rtn, got.Weight);
        Assert.Equal((6, 4), (got.QParams.Layout.QRows, got.QParams.Layout.QCols));
        var grouped = GptqSolver.QuantizeWeight(w, rows, cols, h, args.WithActOrder(ActivationOrdering.Group), DType.F32);
        Assert.Equal(8, grouped.GIdx!.Length);
        Assert.Null(GptqSolver.QuantizeWeight(w, rows, cols, h, args.WithActOrder(ActivationOrdering.Weight), DType.F32).GIdx);
    }

    [Fact]
    public void Gptq_has_lower_output_error_than_rtn()
    {
        const int rows = 32, cols = 64;
        var (w, h, _, hd) = Problem(rows, cols, 400, 99);
        var args = QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel, actOrder: ActivationOrdering.Static);
        var gptq = GptqSolver.QuantizeWeight(w, rows, cols, h, args, DType.F32);
        var qp = WeightObserver.Observe(w, rows, cols, args, DType.F32);
        var rtn = new float[w.Length];
        WeightQuantizer.FakeQuantize(w, qp, args, DType.F32, rtn);
        double OutputError(float[] q)
        {
            // tr(ΔW·H·ΔWᵀ) = expected squared output error per token (×2).
            var e = 0.0;
            for (var r = 0; r < rows; r++)
            for (var i = 0; i < cols; i++)
            for (var j = 0; j < cols; j++)
                e += (w[r * cols + i] - q[r * cols + i]) * hd[i * cols + j] * (w[r * cols + j] - q[r * cols + j]);
            return e;
        }
        Assert.True(OutputError(gptq.Weight) < 0.8 * OutputError(rtn), $"gptq {OutputError(gptq.Weight)} rtn {OutputError(rtn)}");
    }

    [Fact]
    public void Failed_cholesky_falls_back_to_rtn()
    {
        const int rows = 4, cols = 6;
        var w = new float[rows * cols];
        for (var i = 0; i < w.Length; i++) w[i] = (i % 7 - 3) / 3f;
        var h = new float[cols * cols];
        for (var i = 0; i < cols; i++) h[i * cols + i] = 1;
        h[1] = h[cols] = 5; // not positive definite: |H01| > √(H00·H11) even after 1% dampening
        var args = QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel);
        var got = GptqSolver.QuantizeWeight(w, rows, cols, h, args, DType.F32);
        Assert.True(got.FellBackToRtn);
        var qp = WeightObserver.Observe(w, rows, cols, args, DType.F32);
        var rtn = new float[w.Length];
        WeightQuantizer.FakeQuantize(w, qp, args, DType.F32, rtn);
        Assert.Equal(rtn, got.Weight);
    }

    [Fact]
    public void Hessian_is_two_over_sequences_times_the_sum_of_outer_products_and_merges_in_order()
    {
        const int n = 24, tokens = 300;
        var rng = new Random(8);
        var x = new float[tokens * n];
        for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var whole = new HessianAccumulator(n);
        whole.Add(x, tokens, 6);
        var a = new HessianAccumulator(n);
        var b = new HessianAccumulator(n);
        a.Add(x.AsSpan(0, 100 * n), 100, 2);
        b.Add(x.AsSpan(100 * n), 200, 4);
        a.Add(b);
        Assert.Equal(6, a.Sequences);
        var hw = whole.Normalized();
        var hm = a.Normalized();
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
        {
            var s = 0.0;
            for (var t = 0; t < tokens; t++) s += (double)x[t * n + i] * x[t * n + j];
            var expected = 2 * s / 6;
            Assert.Equal(expected, hw[i * n + j], Math.Abs(expected) * HessianRelTolerance + 1e-6);
            Assert.Equal(expected, hm[i * n + j], Math.Abs(expected) * HessianRelTolerance + 1e-6);
            Assert.Equal(hw[i * n + j], hw[j * n + i]);
        }
    }
}
