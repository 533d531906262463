using Offload.Compression.Sequential;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Coordinator.Tests;

public sealed class JobListenerTests
{
    private const int Seq = 16;

    private static DeviceId Cpu(int i) => new(DeviceKind.Cpu, i);

    [Fact]
    public void Events_arrive_in_llm_compressor_order_with_each_layers_inputs()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(4, Seq, config.VocabSize, seed: 5);
        var recorder = new Recorder();
        LayerwiseEvalJob.Run(new LayerwiseJobOptions { ModelDir = dir, SeqLen = Seq, BatchRows = 2, Devices = [Cpu(0), Cpu(1)], DeviceMemoryBytes = 1 << 20 },
            tokens, [recorder]);

        var expected = new List<string> { "initialize", "calibration_start" };
        for (var l = 0; l < config.NumHiddenLayers; l++) expected.Add($"sequential_epoch_end {l}");
        expected.Add("calibration_end");
        expected.Add("finalize");
        Assert.Equal(expected, recorder.Events);
        Assert.Equal(2, recorder.Info!.BatchCount);

        // Layer 3's input for batch 1 is the residual stream after layers 0..2 of windows 2..3.
        using var lm = ModelLoader.Load(dir);
        using var embedded = lm.Embed(tokens.AsSpan(2 * Seq, 2 * Seq), 2, Seq);
        Tensor? seen = null;
        Tensor? next = null;
        using var last = lm.RunLayers(embedded, onLayerInput: (i, t) =>
        {
            if (i == 3) seen = t.Clone();
            if (i == 4) next = t.Clone();
        });
        using (seen)
        using (next)
        {
            Assert.Equal(seen!.ToFloatArray(), recorder.Layer3Batch1!);
            Assert.Equal(next!.ToFloatArray(), recorder.Layer3Output1!); // layer 3's output = layer 4's input
        }
    }

    /// <summary>Counts the forwards of every layer (each forward reads the attention input once).</summary>
    private sealed class ForwardCounter : ILinearInputHook
    {
        public int[] Forwards { get; } = new int[8];

        public void OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences)
        {
            if (site == LinearInput.Attention) Interlocked.Increment(ref Forwards[layer]);
        }
    }

    [Fact]
    public void A_gptq_layer_runs_exactly_two_passes_over_the_calibration_data_calibrate_and_propagate()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(6, Seq, config.VocabSize, seed: 9);
        var counter = new ForwardCounter();
        var plan = Compression.Quantization.QuantizationPlan.ForLinears(new Compression.Quantization.QuantizationScheme(["Linear"],
            Compression.Quantization.QuantizationArgs.Create(4, strategy: Compression.Quantization.QuantizationStrategy.Channel)));
        LayerwiseEvalJob.Run(new LayerwiseJobOptions { ModelDir = dir, SeqLen = Seq, BatchRows = 2, Devices = [Cpu(0), Cpu(1)], DeviceMemoryBytes = 1 << 20, Hooks = counter },
            tokens, [new Compression.Modifiers.GptqModifier(plan)]);
        // 3 batches: the calibration pass (with the Hessian capture inside the replicas' forwards) and the propagation pass.
        Assert.Equal(Enumerable.Repeat(2 * 3, config.NumHiddenLayers), counter.Forwards.Take(config.NumHiddenLayers));
    }

    [Fact]
    public void A_replaced_parameter_propagates_to_the_next_layers()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(4, Seq, config.VocabSize, seed: 6);
        var target = ModuleNames.Weight(ModuleNames.DownProj(2));
        var report = LayerwiseEvalJob.Run(new LayerwiseJobOptions { ModelDir = dir, SeqLen = Seq, BatchRows = 2, Devices = [Cpu(0)], DeviceMemoryBytes = 1 << 20 },
            tokens, [new HalveDownProj(2, target)]);

        // Reference: the resident forward with layer 2's down_proj halved (bf16 halving is exact).
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        using var lm = ModelLoader.Load(dir);
        var rope = new RotaryEmbedding(config);
        var layers = Enumerable.Range(0, config.NumHiddenLayers).Select(l => new DecoderLayer(config, l,
            DecoderLayerWeights.From(config, l, n => n == target ? Halved(checkpoint.Get(n)) : checkpoint.Get(n)), rope)).ToList();
        using var modified = new CausalLM(config, new TokenEmbedding(checkpoint.Get(ModuleNames.Weight(ModuleNames.EmbedTokens))),
            new ResidentLayerSource(layers),
            new OutputHead(checkpoint.Get(ModuleNames.Weight(ModuleNames.FinalNorm)), checkpoint.Get(ModuleNames.Weight(ModuleNames.LmHead)), config.RmsNormEps));
        var expected = PerplexityEvaluator.Evaluate(modified, tokens, Seq, 2);
        var original = PerplexityEvaluator.Evaluate(lm, tokens, Seq, 2);
        Assert.Equal(expected.WindowNll.ToArray(), report.Result.WindowNll.ToArray());
        Assert.NotEqual(original.MeanNll, report.Result.MeanNll);
    }

    private static Tensor Halved(Tensor t)
    {
        using (t)
        {
            var f = t.ToFloatArray();
            for (var i = 0; i < f.Length; i++) f[i] *= 0.5f;
            using var f32 = Tensor.FromArray(f, t.Shape.ToArray());
            return f32.To(t.DType);
        }
    }

    private sealed class HalveDownProj(int layer, string name) : IJobListener
    {
        public void OnInitialize(JobStartInfo info) { }
        public void OnCalibrationStart() { }
        public void OnCalibrationEnd() { }
        public void OnFinalize() { }

        public void OnSequentialEpochEnd(int l, ILayerContext context)
        {
            if (l != layer) return;
            Assert.Contains(name, context.ParameterNames);
            context.ReplaceParameter(name, Halved(context.GetParameter(name)));
        }
    }

    private sealed class Recorder : IJobListener
    {
        public List<string> Events { get; } = new();
        public JobStartInfo? Info { get; private set; }
        public float[]? Layer3Batch1 { get; private set; }
        public float[]? Layer3Output1 { get; private set; }

        public void OnInitialize(JobStartInfo info)
        {
            Info = info;
            Events.Add("initialize");
        }

        public void OnCalibrationStart() => Events.Add("calibration_start");

        public void OnSequentialEpochEnd(int layer, ILayerContext context)
        {
            Assert.Equal(layer, context.LayerIndex);
            Events.Add($"sequential_epoch_end {layer}");
            if (layer == 3)
            {
                using var input = context.GetInput(1);
                Layer3Batch1 = input.ToFloatArray();
                using var output = context.GetOutput(1);
                Layer3Output1 = output.ToFloatArray();
            }
        }

        public void OnCalibrationEnd() => Events.Add("calibration_end");
        public void OnFinalize() => Events.Add("finalize");
    }
}
