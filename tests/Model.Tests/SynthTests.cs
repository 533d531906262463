using System.Text.Json.Nodes;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Xunit.Abstractions;

namespace Offload.Model.Tests;

public sealed class SynthTests(ITestOutputHelper output)
{
    // Sample std of ≥ 40k N(0, σ²) draws is within 1 % of σ with overwhelming probability; 5 % leaves room.
    private const double StdTolerance = 0.05;

    private static readonly SynthOptions Tiny = SynthPresets.Get("tiny") with { Seed = 41 };

    private static double Std(float[] v, out double mean)
    {
        mean = v.Average(x => (double)x);
        var m = mean;
        return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length);
    }

    [Fact]
    public void Tiny_checkpoint_is_a_complete_hugging_face_folder()
    {
        var dir = TestDirs.Synth(Tiny with { DType = DType.BF16 });
        Assert.True(File.Exists(Path.Combine(dir, "tokenizer.bin")));
        var config = LlamaConfig.Load(dir);
        Assert.Equal((2, 128, 344, 4, 2, 32, 512, DType.BF16), (config.NumHiddenLayers, config.HiddenSize, config.IntermediateSize, config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim, config.VocabSize, config.TorchDtype));
        using var file = SafetensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        var specs = ModuleTree.Parameters(config);
        Assert.Equal(specs.Select(s => s.Name), file.Tensors.Select(t => t.Name));
        Assert.All(file.Tensors, t => Assert.Equal(DType.BF16, t.DType));
        Assert.Equal(file.DataStart + specs.Sum(s => s.Shape.Aggregate(1L, (a, b) => a * b) * 2), new FileInfo(file.Path).Length);
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!["offload_synth"]!;
        Assert.Equal("tiny", (string?)meta["preset"]);
    }

    [Fact]
    public void Same_seed_same_bytes_and_in_memory_tensors_equal_the_written_ones()
    {
        var a = TestDirs.Synth(Tiny);
        var b = TestDirs.Synth(Tiny);
        var c = TestDirs.Synth(Tiny with { Seed = 42 });
        var bytesA = File.ReadAllBytes(Path.Combine(a, "model.safetensors"));
        Assert.Equal(bytesA, File.ReadAllBytes(Path.Combine(b, "model.safetensors")));
        Assert.NotEqual(bytesA, File.ReadAllBytes(Path.Combine(c, "model.safetensors")));
        using var ckpt = SafetensorsCheckpoint.Open(a);
        foreach (var name in new[] { "model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight", "model.norm.weight" })
        {
            using var written = ckpt.Get(name);
            using var made = SyntheticCheckpoint.CreateTensor(Tiny, name);
            Assert.True(written.Bytes().SequenceEqual(made.Bytes()), name);
        }
    }

    [Fact]
    public void Weights_have_the_documented_statistics()
    {
        using var q = SyntheticCheckpoint.CreateTensor(Tiny, "model.layers.0.self_attn.q_proj.weight");
        Assert.Equal(1 / Math.Sqrt(128), Std(q.ToFloatArray(), out var mq), 1 / Math.Sqrt(128) * StdTolerance);
        Assert.InRange(mq, -0.01, 0.01);
        using var down = SyntheticCheckpoint.CreateTensor(Tiny, "model.layers.1.mlp.down_proj.weight");
        var downStd = 1 / Math.Sqrt(344) / Math.Sqrt(2 * 2);
        Assert.Equal(downStd, Std(down.ToFloatArray(), out _), downStd * StdTolerance);
        using var norm = SyntheticCheckpoint.CreateTensor(Tiny with { Hidden = 4096, Heads = 32, KvHeads = 8 }, "model.layers.0.input_layernorm.weight");
        Assert.Equal(0.1, Std(norm.ToFloatArray(), out var mn), 0.1 * StdTolerance);
        Assert.Equal(1.0, mn, 0.01);
        var g = new GaussianStream(7);
        var z = new float[1 << 20];
        g.Fill(z);
        Assert.Equal(1.0, Std(z, out var mz), 0.01);
        Assert.InRange(mz, -0.01, 0.01);
        Assert.Equal(0.6827, z.Count(x => Math.Abs(x) < 1) / (double)z.Length, 0.005);   // P(|Z| < 1) of a standard normal
    }

    [Fact]
    public void Outlier_channels_show_in_every_layer_of_the_residual_stream()
    {
        var tokens = new int[2 * 64];
        var r = new Random(5);
        for (var i = 0; i < tokens.Length; i++) tokens[i] = i % 64 == 0 ? 1 : r.Next(3, 512);

        var withOutliers = Tiny with { Layers = 4, Outliers = 2, OutlierScale = 50, Seed = 43 };
        var channels = SyntheticCheckpoint.OutlierChannels(withOutliers);
        Assert.Equal(2, channels.Length);
        using (var model = ModelLoader.Load(TestDirs.Synth(withOutliers)))
        {
            var stats = ActivationProbe.ResidualStream(model, tokens, 2, 64);
            for (var l = 0; l < stats.Count; l++)
            {
                var s = stats[l];
                output.WriteLine($"outliers: {(l < stats.Count - 1 ? $"layer {l} input" : "final output")}: max/RMS {s.MaxOverRms:F1}, top channel RMS / median {s.TopChannelRatio:F1}, max at channel {s.MaxChannel}, RMS {s.Rms:F2}");
                Assert.True(s.MaxOverRms >= 20, $"layer {l}: max/RMS {s.MaxOverRms}");
                Assert.True(s.TopChannelRatio >= 20, $"layer {l}: channel ratio {s.TopChannelRatio}");
                Assert.Contains(s.MaxChannel, channels);
                Assert.True(double.IsFinite(s.Rms));
            }
        }
        using (var channelOnly = ModelLoader.Load(TestDirs.Synth(withOutliers with { MassiveScale = 0 })))
        {
            // Without the massive BOS activation, max/RMS of one token is bounded by √(hidden / outliers) = 8 here,
            // so only the channel ratio shows the outliers (≈ the outlier scale, 50).
            foreach (var s in ActivationProbe.ResidualStream(channelOnly, tokens, 2, 64))
            {
                output.WriteLine($"channel outliers only: max/RMS {s.MaxOverRms:F1}, channel ratio {s.TopChannelRatio:F1}");
                Assert.InRange(s.TopChannelRatio, 20, 100);
                Assert.Contains(s.MaxChannel, channels);
            }
        }
        using (var plain = ModelLoader.Load(TestDirs.Synth(withOutliers with { Outliers = 0 })))
        {
            foreach (var s in ActivationProbe.ResidualStream(plain, tokens, 2, 64))
            {
                output.WriteLine($"no outliers: max/RMS {s.MaxOverRms:F1}, channel ratio {s.TopChannelRatio:F1}, RMS {s.Rms:F2}");
                Assert.InRange(s.MaxOverRms, 2, 10);
                Assert.InRange(s.TopChannelRatio, 1, 3);
                Assert.InRange(s.Rms, 0.3, 3);
            }
        }
    }

    [Fact]
    public void Presets_and_bad_options()
    {
        var c = SynthPresets.Get("llama3-8b-layer").ToConfig();
        Assert.Equal((4096, 14336, 32, 8, 128, 128256, 1), (c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize, c.NumHiddenLayers));
        Assert.Equal(RopeType.Llama3, c.RopeScaling!.Type);
        Assert.Equal(2048, SynthPresets.Get("llama3.2-1b").Hidden);
        var e = Assert.Throws<ModelConfigException>(() => SynthPresets.Get("huge"));
        Assert.Contains("tiny", e.Message);
        Assert.Throws<ModelConfigException>(() => (Tiny with { Outliers = 1000 }).ToConfig());
        Assert.Throws<ModelConfigException>(() => (Tiny with { KvHeads = 3 }).ToConfig());
        var occupied = TestDirs.Synth(Tiny);
        Assert.Throws<CheckpointException>(() => SyntheticCheckpoint.Write(occupied, Tiny));
    }
}
