using System.Diagnostics;
using System.Globalization;
using Offload.Model.Forward;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Bench;

/// <summary>
/// Where one decoder layer's forward spends its time, at issue 15's reference shapes (hidden 2048, MLP 5632, GQA 16/4,
/// f32) on a [rows, 512, 2048] batch: segment times between the linear-input hooks, over a few repeats.
/// Run: dotnet run -c Release --project bench/Offload.Bench -- forward-profile [rows] [repeats]
/// </summary>
public static class ForwardProfile
{
    private sealed class Clock : IAttentionStateHook
    {
        public readonly List<(string, long)> Marks = [];

        public void OnAttentionStates(int layer, Span<float> q, Span<float> k, Span<float> v, int tokens, int sequences) =>
            Marks.Add(("qkv+rope", Stopwatch.GetTimestamp()));

        void ILinearInputHook.OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences) =>
            Marks.Add((site switch
            {
                LinearInput.Attention => "norm1",
                LinearInput.AttentionOutput => "attention",
                LinearInput.Mlp => "o_proj+norm2",
                _ => "gate/up+swiglu",
            }, Stopwatch.GetTimestamp()));
    }

    public static void Run(int rows, int repeats)
    {
        var options = new SynthOptions { Layers = 1, Hidden = 2048, Intermediate = 5632, Heads = 16, KvHeads = 4, Vocab = 512, DType = DType.F32, Seed = 1 };
        var config = options.ToConfig();
        var clock = new Clock();
        using var layer = new DecoderLayer(config, 0, SyntheticCheckpoint.CreateLayer(options, 0), new RotaryEmbedding(config)) { Hooks = [clock] };
        var x = new float[rows * 512 * config.HiddenSize];
        new GaussianStream(3).Fill(x);
        using var input = Tensor.FromArray(x, rows, 512, config.HiddenSize);
        var tokens = rows * 512.0;
        var flops = 2 * tokens * (config.HiddenSize * (config.QDim + 2.0 * config.KvDim) + config.QDim * (double)config.HiddenSize + 3.0 * config.HiddenSize * config.IntermediateSize)
            + 2.0 * rows * config.NumAttentionHeads * 512.0 * 512 * config.HeadDim;
        for (var r = 0; r < repeats; r++)
        {
            clock.Marks.Clear();
            var t0 = Stopwatch.GetTimestamp();
            using (layer.Forward(input)) { }
            var t1 = Stopwatch.GetTimestamp();
            var prev = t0;
            var parts = new List<string>();
            foreach (var (name, t) in clock.Marks)
            {
                parts.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {Stopwatch.GetElapsedTime(prev, t).TotalMilliseconds:F0}"));
                prev = t;
            }
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"down+residual {Stopwatch.GetElapsedTime(prev, t1).TotalMilliseconds:F0}"));
            var s = Stopwatch.GetElapsedTime(t0, t1).TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"forward {s * 1000:F0} ms = {flops / s / 1e9:F1} GFLOP/s · ms: {string.Join(", ", parts)}"));
        }
    }
}

/// <summary>
/// Where GPTQ's solve of one linear spends its time at the reference job's shapes (group 128, actorder static):
/// the factor of H⁻¹ and the column sweep, for a [2048, 2048] and a [2048, 5632] weight.
/// Run: dotnet run -c Release --project bench/Offload.Bench -- solve-profile
/// </summary>
public static class SolveProfile
{
    public static void Run()
    {
        var args = Offload.Compression.Quantization.QuantizationArgs.Create(4, groupSize: 128, strategy: Offload.Compression.Quantization.QuantizationStrategy.Group,
            actOrder: Offload.Compression.Quantization.ActivationOrdering.Static);
        foreach (var (rows, cols) in new[] { (2048, 2048), (2048, 5632) })
        {
            var rng = new Random(1);
            var x = new float[1024 * cols];
            for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var acc = new Offload.Compression.Gptq.HessianAccumulator(cols);
            acc.Add(x, 1024, 2);
            var h = acc.Normalized();
            var w = new float[rows * cols];
            for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 0.1 - 0.05);
            for (var rep = 0; rep < 2; rep++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var factor = Offload.Compression.Gptq.GptqSolver.Factor(h, cols, ordered: true);
                var t1 = Stopwatch.GetTimestamp();
                var r = Offload.Compression.Gptq.GptqSolver.QuantizeWeight(w, rows, cols, factor, args, DType.F32);
                var t2 = Stopwatch.GetTimestamp();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{rows}, {cols}]: factor {Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds:F0} ms, quantize_weight {Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds:F0} ms (loss {r.Loss:G6})"));
            }
        }
    }
}
