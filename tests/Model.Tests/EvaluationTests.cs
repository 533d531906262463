using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Synthetic;
using Offload.Model.Tokenizers;

namespace Offload.Model.Tests;

public sealed class EvaluationTests
{
    // The evaluator and the reference below read the same f32 logits; only the f64 summation order differs.
    private const double SummationTolerance = 1e-9;
    // Batching windows changes GEMM shapes, hence f32 rounding, in the forward pass.
    private const double BatchingTolerance = 1e-5;

    [Fact]
    public void Text_splits_at_blank_lines_and_parts_are_stripped()
    {
        Assert.Equal(["a", "b c", "d"], EvalProtocol.SplitParts("a\n\n  b c \n\n\n\n\n d\n\n"));
        Assert.Equal(["x", "y"], EvalProtocol.SplitParts("x\n\n\ny"));
        Assert.Equal(["one\ntwo"], EvalProtocol.SplitParts("one\ntwo"));
        Assert.Empty(EvalProtocol.SplitParts("\n\n \n\n"));
    }

    [Fact]
    public void Stream_is_each_part_with_bos_and_windows_are_consecutive_chunks()
    {
        var tok = Llama2cTokenizer.CreateByteLevel(300);
        var stream = EvalProtocol.TokenStream("ab\n\ncd\n\n\n\nefg", tok);
        Assert.Equal([1, 259, 'a' + 3, 'b' + 3, 1, 259, 'c' + 3, 'd' + 3, 1, 259, 'e' + 3, 'f' + 3, 'g' + 3], stream);
        Assert.Equal(3, EvalProtocol.WindowCount(stream.Length, 4));
        Assert.Equal(stream[..8], EvalProtocol.FirstWindows(stream, 4, 2));
        Assert.Equal(stream[4..12], EvalProtocol.LastWindows(stream, 4, 2));
        Assert.Equal(stream[8..12], EvalProtocol.Windows(stream, 4, 2, 1));
        var e = Assert.Throws<EvaluationException>(() => EvalProtocol.FirstWindows(stream, 4, 4));
        Assert.Contains("3 windows", e.Message);
    }

    [Fact]
    public void Token_nll_is_log_softmax()
    {
        float[] logits = [1f, 2f, -3f, 0.5f];
        var z = logits.Sum(v => Math.Exp(v));
        for (var t = 0; t < logits.Length; t++) Assert.Equal(-Math.Log(Math.Exp(logits[t]) / z), TokenNll.Of(logits, t), 12);
        float[] large = [1000f, 999f];
        Assert.Equal(Math.Log(1 + Math.Exp(-1)), TokenNll.Of(large, 0), 10);
    }

    [Fact]
    public void Evaluator_scores_positions_0_to_n_minus_2_of_every_window()
    {
        var dir = TestDirs.Synth(SynthPresets.Get("tiny") with { Seed = 31 });
        using var model = ModelLoader.Load(dir);
        var r = new Random(3);
        var windows = Enumerable.Range(0, 3 * 16).Select(_ => r.Next(0, 512)).ToArray();
        var result = PerplexityEvaluator.Evaluate(model, windows, 16, batch: 1);
        Assert.Equal(3 * 15, result.Tokens);
        var expected = new double[3];
        for (var w = 0; w < 3; w++)
        {
            using var logits = model.Forward(windows.AsSpan(w * 16, 16), 1, 16);
            var l = logits.ReadOnlySpan<float>();
            for (var t = 0; t < 15; t++)
            {
                var row = l.Slice(t * 512, 512).ToArray();
                double max = row.Max();
                expected[w] += max + Math.Log(row.Sum(v => Math.Exp(v - max))) - row[windows[w * 16 + t + 1]];
            }
            expected[w] /= 15;
            Assert.Equal(expected[w], result.WindowNll[w], SummationTolerance);
        }
        Assert.Equal(expected.Average(), result.MeanNll, SummationTolerance);
        Assert.Equal(Math.Exp(result.MeanNll), result.Perplexity, 12);
        var batched = PerplexityEvaluator.Evaluate(model, windows, 16, batch: 2);
        Assert.InRange(Math.Abs(batched.MeanNll - result.MeanNll), 0, BatchingTolerance);
    }

    [Fact]
    public void Logit_comparison_reports_max_abs_relative_l2_and_kl()
    {
        float[] a = [1f, 2f, 0f, 0f];
        var b = new[] { 1f, 2f + (float)Math.Log(3), 0f, 0f };
        var d = LogitComparison.Compare(a, b, 2);
        Assert.Equal(2, d.Positions);
        Assert.Equal(Math.Log(3), d.MaxAbs, 6);
        Assert.Equal(Math.Log(3) / Math.Sqrt(5), d.RelativeL2, 6);
        // Row 0: P = softmax(1, 2), Q = softmax(1, 2 + ln 3); row 1 identical → KL 0.
        double p0 = 1 / (1 + Math.E), p1 = 1 - p0, q0 = 1 / (1 + 3 * Math.E), q1 = 1 - q0;
        var kl = p0 * Math.Log(p0 / q0) + p1 * Math.Log(p1 / q1);
        Assert.Equal(kl, d.MaxKl, 6);
        Assert.Equal(kl / 2, d.MeanKl, 6);
        Assert.Equal(1.0, d.Top1Agreement);
        var same = LogitComparison.Compare(a, a, 2);
        Assert.Equal((0.0, 0.0, 0.0), (same.MaxAbs, same.RelativeL2, same.MeanKl));
    }

    [Fact]
    public void Comparing_a_model_with_its_bf16_copy_gives_a_small_nonzero_difference()
    {
        var tiny = SynthPresets.Get("tiny") with { Seed = 32 };
        using var f32 = ModelLoader.Load(TestDirs.Synth(tiny));
        using var bf16 = ModelLoader.Load(TestDirs.Synth(tiny with { DType = Protocol.DType.BF16 }));
        var r = new Random(4);
        var windows = Enumerable.Range(0, 2 * 24).Select(_ => r.Next(0, 512)).ToArray();
        var self = LogitComparison.Compare(f32, f32, windows, 24);
        Assert.Equal(0, self.MaxAbs);
        var d = LogitComparison.Compare(f32, bf16, windows, 24);
        Assert.Equal(48, d.Positions);
        Assert.InRange(d.RelativeL2, 1e-4, 0.1);   // bf16 keeps 8 bits of mantissa: ~0.4 % per weight
        Assert.InRange(d.MeanKl, 1e-9, 0.05);
    }

    [Fact]
    public void Activation_stats_of_a_known_matrix()
    {
        // x: [3 tokens, 3 channels]; channel RMS = √(1/3), √(4/3), √(300/3) → median √(4/3), top √100 = 10.
        float[] x = [1f, -2f, 10f, 0f, 0f, -10f, 0f, 0f, 10f];
        var s = ActivationProbe.Of(x, 3);
        Assert.Equal(10, s.MaxAbs);
        Assert.Equal(2, s.MaxChannel);
        Assert.Equal(Math.Sqrt(305.0 / 9), s.Rms, 12);
        Assert.Equal(10 / Math.Sqrt(305.0 / 9), s.MaxOverRms, 12);
        Assert.Equal(10 / Math.Sqrt(4.0 / 3), s.TopChannelRatio, 12);
    }
}
