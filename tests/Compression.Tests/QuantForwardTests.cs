using Offload.Compression.Quantization;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Xunit;

namespace Offload.Compression.Tests;

[Collection(StoriesCollection.Name)]
public class QuantForwardTests(StoriesModelFixture f)
{
    /// <summary>Same math as the model's layer, different attention blocking and softmax summation: f32 round-off only.</summary>
    private const double ForwardRelTolerance = 1e-5;

    /// <summary>Distance from a half-integer under which f32 and f64 rounding may disagree.</summary>
    private const double TieBand = 1e-4;

    private sealed class Recorder : ILinearInputHook
    {
        public Dictionary<(int, LinearInput), float[]> Seen { get; } = [];

        public void OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences) => Seen[(layer, site)] = x.ToArray();
    }

    private int[] Tokens(int count) => f.Stream.AsSpan(0, count).ToArray();

    [Fact]
    public void Hooked_layers_without_hooks_reproduce_the_model_forward()
    {
        using var hooked = FakeQuantModel.Create(f.Model, (i, w) => FakeQuantModel.Shared(w, i, f.Model.Config), []);
        var windows = EvalProtocol.FirstWindows(f.Stream, 64, 2);
        var diff = LogitComparison.Compare(f.Model, hooked, windows, 64);
        Assert.True(diff.RelativeL2 < ForwardRelTolerance, $"relative L2 {diff.RelativeL2:E3}");
    }

    [Fact]
    public void Rtn_weights_are_the_observers_fake_quantized_values()
    {
        var args = QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel);
        var plan = QuantizationPlan.ForLinears(new QuantizationScheme(["Linear"], args)).Resolve(f.Model.Config);
        Assert.Equal(5 * 7, plan.Count);
        Assert.DoesNotContain(ModuleNames.LmHead, plan.Keys);
        var layer = (DecoderLayer)f.Model.Layers.Acquire(1);
        try
        {
            using var q = RtnWeights.Apply(layer.Weights, 1, plan, f.Model.Config);
            var w = layer.Weights.DownProj.ToFloatArray();
            var rows = (int)layer.Weights.DownProj.Dim(0);
            var cols = (int)layer.Weights.DownProj.Dim(1);
            var got = q.DownProj.ToFloatArray();
            for (var r = 0; r < rows; r++)
            {
                var absMax = 0f;
                for (var c = 0; c < cols; c++) absMax = Math.Max(absMax, Math.Abs(w[r * cols + c]));
                var s = absMax / 7.5f;
                for (var c = 0; c < cols; c++)
                {
                    var code = Math.Clamp(MathF.Round(w[r * cols + c] / s, MidpointRounding.ToEven), -8, 7);
                    Assert.Equal(code * s, got[r * cols + c], 1e-7);
                }
            }
            Assert.Equal(layer.Weights.InputLayerNorm.ToFloatArray(), q.InputLayerNorm.ToFloatArray());
        }
        finally
        {
            f.Model.Layers.Release(layer);
        }
    }

    [Fact]
    public void Activation_hook_fake_quantizes_every_linear_input_per_token()
    {
        var plan = QuantizationPlan.ForLinears(QuantizationPresets.Get("W8A8", ["Linear"])).Resolve(f.Model.Config);
        var before = new Recorder();
        var after = new Recorder();
        using var m = FakeQuantModel.Create(f.Model, (i, w) => FakeQuantModel.Shared(w, i, f.Model.Config),
            [before, new ActivationQuantHook(f.Model.Config, plan), after]);
        var tokens = Tokens(2 * 16);
        using var logits = m.Forward(tokens, 2, 16);
        Assert.Equal(5 * 4, after.Seen.Count);
        foreach (var (key, x) in before.Seen)
        {
            var y = after.Seen[key];
            var width = x.Length / 32;
            for (var t = 0; t < 32; t++)
            {
                var absMax = 0.0;
                for (var c = 0; c < width; c++) absMax = Math.Max(absMax, Math.Abs(x[t * width + c]));
                var s = absMax / 127.5;
                for (var c = 0; c < width; c++)
                {
                    var v = x[t * width + c] / s;
                    // f32 and f64 may round a value this close to a half-integer differently (the row's absmax sits at ±127.5).
                    if (Math.Abs(Math.Abs(v - Math.Floor(v)) - 0.5) < TieBand) continue;
                    var q = Math.Clamp(Math.Round(v, MidpointRounding.ToEven), -128, 127);
                    Assert.Equal(q * s, y[t * width + c], 1e-6 * Math.Max(absMax, 1e-3));
                }
            }
        }
    }

    [Fact]
    public void Quantized_perplexity_orders_as_expected()
    {
        var windows = EvalProtocol.FirstWindows(f.Stream, 128, 4);
        double Ppl(CausalLM m) => PerplexityEvaluator.Evaluate(m, windows, 128).Perplexity;
        CausalLM Build(QuantizationScheme s)
        {
            var plan = QuantizationPlan.ForLinears(s).Resolve(f.Model.Config);
            return FakeQuantModel.Create(f.Model, (i, w) => RtnWeights.Apply(w, i, plan, f.Model.Config), [new ActivationQuantHook(f.Model.Config, plan)]);
        }
        var fp = Ppl(f.Model);
        using var w8a8 = Build(QuantizationPresets.Get("W8A8", ["Linear"]));
        using var w4a4 = Build(new QuantizationScheme(["Linear"], QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel), QuantizationPresets.Activations(4)));
        var p8 = Ppl(w8a8);
        var p4 = Ppl(w4a4);
        Assert.InRange(p8, fp * 0.98, fp * 1.05);
        Assert.True(p4 > p8 * 1.05, $"fp {fp} w8a8 {p8} w4a4 {p4}");
    }
}
