using System.Text.Json.Nodes;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.Synthetic;
using Offload.Model.Tests.Reference;
using Offload.Protocol;
using Offload.Tensors;
using Xunit.Abstractions;

namespace Offload.Model.Tests;

public sealed class ForwardTests(ITestOutputHelper output)
{
    // f32 compute against the f64 reference on 2-layer random models: observed ~1e-7; the acceptance bound is 1e-4.
    private const double RelL2Tolerance = 1e-4;
    // KV-cache decoding runs the same math through GEMMs of other shapes; summation order differs only in rounding.
    private const double CacheRelL2Tolerance = 1e-5;

    private static readonly SynthOptions Tiny = SynthPresets.Get("tiny") with { Seed = 11 };

    private static int[] Tokens(int n, int vocab, int seed)
    {
        var r = new Random(seed);
        var t = new int[n];
        t[0] = 1;
        for (var i = 1; i < n; i++) t[i] = r.Next(3, vocab);
        return t;
    }

    private double CompareToReference(string dir, int[] tokens)
    {
        using var model = ModelLoader.Load(dir);
        var reference = new HfReference(model.Config, dir);
        using var logits = model.Forward(tokens, 1, tokens.Length);
        var ours = logits.ReadOnlySpan<float>();
        var (_, refLogits) = reference.Run(tokens);
        var v = model.Config.VocabSize;
        double diff = 0, norm = 0;
        for (var t = 0; t < tokens.Length; t++)
            for (var j = 0; j < v; j++)
            {
                var d = ours[t * v + j] - refLogits[t][j];
                diff += d * d;
                norm += refLogits[t][j] * refLogits[t][j];
            }
        var rel = Math.Sqrt(diff / norm);
        output.WriteLine($"relative L2 vs f64 reference: {rel:E3}");
        return rel;
    }

    [Fact]
    public void Gqa_model_matches_the_float64_reference()
    {
        Assert.Equal(2, Tiny.Heads / Tiny.KvHeads);
        var dir = TestDirs.Synth(Tiny);
        Assert.InRange(CompareToReference(dir, Tokens(48, 512, 1)), 0, RelL2Tolerance);
    }

    [Fact]
    public void Llama3_rope_scaling_matches_the_float64_reference()
    {
        // original context 256 → high-frequency wavelengths < 64 kept, > 256 divided by 8, in between blended.
        var scaling = new RopeScaling(RopeType.Llama3, 8, 1, 4, 256);
        var o = Tiny with { RopeScaling = scaling, Seed = 12 };
        var config = o.ToConfig();
        var ours = RotaryEmbedding.InverseFrequencies(config.HeadDim, config.RopeTheta, config.RopeScaling);
        var expected = HfReference.InvFreq(config);
        var plain = RotaryEmbedding.InverseFrequencies(config.HeadDim, config.RopeTheta, null);
        int kept = 0, divided = 0, blended = 0;
        for (var j = 0; j < ours.Length; j++)
        {
            Assert.Equal(expected[j], ours[j], 1e-15 * expected[j]);
            var ratio = plain[j] / ours[j];
            if (Math.Abs(ratio - 1) < 1e-12) kept++;
            else if (Math.Abs(ratio - 8) < 1e-9) divided++;
            else blended++;
        }
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"kept {kept}, divided {divided}, blended {blended}");
        var dir = TestDirs.Synth(o);
        Assert.Equal(RopeType.Llama3, LlamaConfig.Load(dir).RopeScaling!.Type);
        Assert.InRange(CompareToReference(dir, Tokens(64, 512, 2)), 0, RelL2Tolerance);
    }

    [Fact]
    public void Qwen2_qkv_biases_match_the_float64_reference()
    {
        var dir = TestDirs.Synth(Tiny with { Architecture = ModelArchitecture.Qwen2, Seed = 13 });
        var config = LlamaConfig.Load(dir);
        Assert.Equal(ModelArchitecture.Qwen2, config.Architecture);
        using (var ckpt = SafeTensors.SafetensorsCheckpoint.Open(dir))
        {
            Assert.True(ckpt.Contains("model.layers.1.self_attn.k_proj.bias"));
            Assert.False(ckpt.Contains("model.layers.1.self_attn.o_proj.bias"));
        }
        Assert.InRange(CompareToReference(dir, Tokens(40, 512, 3)), 0, RelL2Tolerance);
    }

    [Fact]
    public void Mistral_sliding_window_matches_the_float64_reference()
    {
        var dir = TestDirs.Synth(Tiny with { Seed = 14 }, c =>
        {
            c["architectures"] = new JsonArray("MistralForCausalLM");
            c["model_type"] = "mistral";
            c["sliding_window"] = 8;
        });
        Assert.Equal(8, LlamaConfig.Load(dir).SlidingWindowOf(0));
        Assert.InRange(CompareToReference(dir, Tokens(40, 512, 4)), 0, RelL2Tolerance);
    }

    [Fact]
    public void Bf16_weights_compute_in_f32_and_match_the_reference()
    {
        var dir = TestDirs.Synth(Tiny with { DType = DType.BF16, Seed = 15 });
        using (var ckpt = SafeTensors.SafetensorsCheckpoint.Open(dir))
            Assert.Equal(DType.BF16, ckpt.Descriptor("model.layers.0.mlp.up_proj.weight").DType);
        Assert.InRange(CompareToReference(dir, Tokens(32, 512, 5)), 0, RelL2Tolerance);
    }

    [Fact]
    public void Layer_by_layer_forward_equals_the_whole_model_forward_bitwise()
    {
        var dir = TestDirs.Synth(Tiny with { Seed = 16, Outliers = 2 });
        var tokens = Tokens(2 * 40, 512, 6);
        using var model = ModelLoader.Load(dir);
        using var whole = model.Forward(tokens, 2, 40);

        // The same layers, resident (native copies), run one at a time by hand.
        using var ckpt = SafeTensors.SafetensorsCheckpoint.Open(dir);
        var rope = new RotaryEmbedding(model.Config);
        using var hidden0 = model.Embed(tokens, 2, 40);
        var hidden = hidden0.Clone();
        for (var i = 0; i < model.Config.NumHiddenLayers; i++)
        {
            var weights = DecoderLayerWeights.From(model.Config, i, n => { using var v = ckpt.Get(n); return v.Clone(); });
            using var layer = new DecoderLayer(model.Config, i, weights, rope);
            var next = layer.Forward(hidden);
            hidden.Dispose();
            hidden = next;
        }
        using var byLayer = model.Logits(hidden);
        hidden.Dispose();
        Assert.True(whole.Bytes().SequenceEqual(byLayer.Bytes()));
    }

    [Fact]
    public void Kv_cache_decoding_matches_the_full_forward()
    {
        var dir = TestDirs.Synth(Tiny with { Seed = 17 });
        var tokens = Tokens(24, 512, 7);
        using var model = ModelLoader.Load(dir);
        using var full = model.Forward(tokens, 1, tokens.Length);
        var cache = new KvCache(model.Config, 1);
        var v = model.Config.VocabSize;
        var stepped = new float[tokens.Length * v];
        using (var prefix = model.Forward(tokens.AsSpan(0, 10), 1, 10, cache))
            prefix.ReadOnlySpan<float>().CopyTo(stepped);
        for (var t = 10; t < tokens.Length; t++)
        {
            using var step = model.Forward(tokens.AsSpan(t, 1), 1, 1, cache);
            step.ReadOnlySpan<float>().CopyTo(stepped.AsSpan(t * v));
        }
        Assert.Equal(tokens.Length, cache.Length);
        Assert.InRange(RelL2(full.ReadOnlySpan<float>(), stepped), 0, CacheRelL2Tolerance);
    }

    [Fact]
    public void Batch_rows_are_independent()
    {
        var dir = TestDirs.Synth(Tiny with { Seed = 18 });
        var a = Tokens(20, 512, 8);
        var b = Tokens(20, 512, 9);
        using var model = ModelLoader.Load(dir);
        using var both = model.Forward([.. a, .. b], 2, 20);
        using var la = model.Forward(a, 1, 20);
        using var lb = model.Forward(b, 1, 20);
        var n = 20 * model.Config.VocabSize;
        Assert.InRange(RelL2(la.ReadOnlySpan<float>(), both.ReadOnlySpan<float>()[..n]), 0, CacheRelL2Tolerance);
        Assert.InRange(RelL2(lb.ReadOnlySpan<float>(), both.ReadOnlySpan<float>()[n..]), 0, CacheRelL2Tolerance);
        Assert.True(RelL2(la.ReadOnlySpan<float>(), lb.ReadOnlySpan<float>()) > 0.01, "different inputs give different logits");
    }

    private static double RelL2(ReadOnlySpan<float> reference, ReadOnlySpan<float> x)
    {
        double d = 0, n = 0;
        for (var i = 0; i < reference.Length; i++)
        {
            d += (double)(x[i] - reference[i]) * (x[i] - reference[i]);
            n += (double)reference[i] * reference[i];
        }
        return Math.Sqrt(d / n);
    }
}
