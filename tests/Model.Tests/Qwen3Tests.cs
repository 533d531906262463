using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Model.Synthetic;
using Offload.Model.Tests.Reference;
using Offload.Protocol;
using Offload.Tensors;
using Xunit.Abstractions;

namespace Offload.Model.Tests;

/// <summary>
/// Qwen3ForCausalLM: config parsing (explicit head_dim, refused sliding window), the q_norm / k_norm modules and
/// tensors, and the forward against the f64 transformers-semantics reference on the qwen3-tiny synthetic preset.
/// </summary>
public sealed class Qwen3Tests(ITestOutputHelper output)
{
    // Same bound as the Llama forward tests (f32 compute vs the f64 reference; observed ~1e-7).
    private const double RelL2Tolerance = 1e-4;
    private const double CacheRelL2Tolerance = 1e-5;

    // Qwen3-0.6B's config.json as published on the Hugging Face hub.
    private const string Qwen3_06B = """
        {"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 151643,
         "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024, "initializer_range": 0.02,
         "intermediate_size": 3072, "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
         "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null,
         "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
         "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}
        """;

    private static readonly SynthOptions Preset = SynthPresets.Get("qwen3-tiny");

    private static int[] Tokens(int n, int vocab, int seed)
    {
        var r = new Random(seed);
        var t = new int[n];
        t[0] = 1;
        for (var i = 1; i < n; i++) t[i] = r.Next(3, vocab);
        return t;
    }

    [Fact]
    public void Published_config_parses_with_its_explicit_head_dim_and_no_biases()
    {
        var c = LlamaConfig.Parse(Qwen3_06B);
        Assert.Equal(ModelArchitecture.Qwen3, c.Architecture);
        Assert.Equal("Qwen3ForCausalLM", c.ArchitectureName);
        Assert.Equal("qwen3", c.ModelType);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal(2048, c.QDim);          // 16 × 128, not hidden 1024
        Assert.Equal(1024, c.KvDim);
        Assert.True(c.QkNorm);
        Assert.False(c.QkvBias);
        Assert.False(c.OProjBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Null(c.SlidingWindowOf(27));
        Assert.Equal(1e6, c.RopeTheta);
        Assert.Equal(DType.BF16, c.TorchDtype);
    }

    [Fact]
    public void Model_type_alone_selects_qwen3_and_head_dim_defaults_to_128_as_in_transformers()
    {
        var c = LlamaConfig.Parse("""{"model_type": "qwen3", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 64}""");
        Assert.Equal(ModelArchitecture.Qwen3, c.Architecture);
        Assert.Equal(128, c.HeadDim);       // Qwen3Config's default, not 256 / 4
        Assert.Equal(4, c.NumKeyValueHeads);
    }

    [Fact]
    public void Config_round_trips_through_ToJson()
    {
        var c = LlamaConfig.Parse(Qwen3_06B);
        var json = c.ToJson();
        Assert.Contains("\"Qwen3ForCausalLM\"", json);
        Assert.Contains("\"model_type\": \"qwen3\"", json);
        Assert.Contains("\"use_sliding_window\": false", json);
        var again = LlamaConfig.Parse(json);
        Assert.Equal(c with { EosTokenIds = [] }, again with { EosTokenIds = [] });
        Assert.Equal(c.EosTokenIds, again.EosTokenIds);
        Assert.Equal(json, again.ToJson());
    }

    [Fact]
    public void Attention_bias_gives_qkvo_biases_as_in_transformers()
    {
        var c = LlamaConfig.Parse(Qwen3_06B.Replace("\"attention_bias\": false", "\"attention_bias\": true"));
        Assert.True(c.QkvBias);
        Assert.True(c.OProjBias);
        Assert.False(c.MlpBiasEnabled);
    }

    [Fact]
    public void Sliding_window_is_refused_with_one_line_naming_the_file_and_the_fix()
    {
        var json = Qwen3_06B.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true").Replace("\"sliding_window\": null", "\"sliding_window\": 4096");
        Assert.NotEqual(Qwen3_06B, json);
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(json, "q3/config.json"));
        Assert.StartsWith("q3/config.json", e.Message);
        Assert.Contains("use_sliding_window", e.Message);
        Assert.Contains("Qwen3ForCausalLM", e.Message);
        Assert.Contains("set it to false", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Module_tree_holds_q_norm_and_k_norm_after_o_proj()
    {
        var c = LlamaConfig.Parse(Qwen3_06B) with { NumHiddenLayers = 2 };
        var modules = ModuleTree.Modules(c);
        var names = modules.Select(m => m.Name).ToList();
        var o = names.IndexOf("model.layers.1.self_attn.o_proj");
        Assert.Equal("model.layers.1.self_attn.q_norm", names[o + 1]);
        Assert.Equal("model.layers.1.self_attn.k_norm", names[o + 2]);
        Assert.Equal("model.layers.1.mlp", names[o + 3]);
        Assert.Equal("Qwen3RMSNorm", modules.Single(m => m.Name == "model.layers.0.self_attn.k_norm").ClassName);
        Assert.Equal("Qwen3DecoderLayer", modules.Single(m => m.Name == "model.layers.0").ClassName);
        // Linear targets (what quantization schemes use) never reach the norms; norm classes count 4 per layer + final.
        Assert.Equal(2 * 7 + 1, TargetMatcher.MatchModules(modules, ["Linear"]).Count());
        Assert.Equal(2 * 4 + 1, TargetMatcher.MatchModules(modules, ["Qwen3RMSNorm"]).Count());

        var p = ModuleTree.LayerParameters(c, 0);
        var q = p.Single(s => s.Name == "model.layers.0.self_attn.q_norm.weight");
        Assert.Equal([128L], q.Shape.ToArray());
        Assert.Contains(p, s => s.Name == "model.layers.0.self_attn.k_norm.weight");
        Assert.DoesNotContain(p, s => s.Name.EndsWith(".bias", StringComparison.Ordinal));
        // Llama has none
        Assert.DoesNotContain(ModuleTree.LayerParameters(c with { Architecture = ModelArchitecture.Llama }, 0), s => s.Name.Contains("_norm.weight", StringComparison.Ordinal) && s.Name.Contains("self_attn", StringComparison.Ordinal));
    }

    [Fact]
    public void Preset_has_a_head_dim_other_than_hidden_over_heads_gqa_tied_embeddings_and_random_qk_norms()
    {
        var dir = TestDirs.Synth(Preset with { Seed = 31 });
        var c = LlamaConfig.Load(dir);
        Assert.Equal(ModelArchitecture.Qwen3, c.Architecture);
        Assert.NotEqual(c.HiddenSize / c.NumAttentionHeads, c.HeadDim);
        Assert.True(c.NumKeyValueHeads < c.NumAttentionHeads);
        Assert.True(c.TieWordEmbeddings);
        using var ckpt = SafetensorsCheckpoint.Open(dir);
        Assert.False(ckpt.Contains("lm_head.weight"));
        foreach (var name in new[] { "model.layers.0.self_attn.q_norm.weight", "model.layers.1.self_attn.k_norm.weight" })
        {
            using var t = ckpt.Get(name);
            Assert.Equal([(long)c.HeadDim], t.Shape.ToArray());
            var v = t.ToFloatArray();
            Assert.True(v.Count(x => Math.Abs(x - 1f) > 1e-3f) > v.Length / 2, $"{name} should not be all ones");
        }
        using var a = ckpt.Get("model.layers.0.self_attn.q_norm.weight");
        using var b = ckpt.Get("model.layers.0.self_attn.k_norm.weight");
        Assert.False(a.Bytes().SequenceEqual(b.Bytes()));
    }

    [Fact]
    public void Forward_matches_the_float64_reference()
    {
        var dir = TestDirs.Synth(Preset with { Seed = 32, Outliers = 2 });
        var tokens = Tokens(48, 512, 33);
        using var model = ModelLoader.Load(dir);
        Assert.Equal(ModelArchitecture.Qwen3, model.Config.Architecture);
        using var logits = model.Forward(tokens, 1, tokens.Length);
        var ours = logits.ReadOnlySpan<float>();
        var (_, expected) = new HfReference(model.Config, dir).Run(tokens);
        var rel = RelL2(expected, ours, model.Config.VocabSize);
        output.WriteLine($"qwen3-tiny logits vs f64 reference: relative L2 {rel:E3}");
        Assert.InRange(rel, 0, RelL2Tolerance);
    }

    [Fact]
    public void Layer_update_matches_the_float64_reference_and_needs_the_norms()
    {
        // The residual update of layer 0 (y − x) isolates attention + MLP from the embedding that dominates the logits.
        var dir = TestDirs.Synth(Preset with { Seed = 37 });
        var tokens = Tokens(40, 512, 38);
        using var model = ModelLoader.Load(dir);
        var c = model.Config;
        using var x = model.Embed(tokens, 1, tokens.Length);
        using var ckpt = SafetensorsCheckpoint.Open(dir);
        using var layer = new DecoderLayer(c, 0, DecoderLayerWeights.From(c, 0, n => { using var v = ckpt.Get(n); return v.Clone(); }), new RotaryEmbedding(c));
        using var y = layer.Forward(x);
        var ours = new float[x.ElementCount];
        var xs = x.ReadOnlySpan<float>();
        var ys = y.ReadOnlySpan<float>();
        for (var i = 0; i < ours.Length; i++) ours[i] = ys[i] - xs[i];

        double[][] Update(LlamaConfig config)
        {
            var inputs = new HfReference(config, dir).Run(tokens).LayerInputs;
            return inputs[0].Select((row, t) => row.Select((v, i) => inputs[1][t][i] - v).ToArray()).ToArray();
        }
        var rel = RelL2(Update(c), ours, c.HiddenSize);
        output.WriteLine($"layer 0 update vs f64 reference: relative L2 {rel:E3}");
        Assert.InRange(rel, 0, RelL2Tolerance);
        // Reading the same weights as Llama (no q/k norms) must land far from our Qwen3 forward.
        var without = RelL2(Update(c with { Architecture = ModelArchitecture.Llama }), ours, c.HiddenSize);
        output.WriteLine($"layer 0 update of the same weights without q/k norms: relative L2 {without:E3}");
        Assert.True(without > 100 * RelL2Tolerance, $"q/k norms should change the layer's update (relative L2 {without:E3} without them)");
    }

    [Fact]
    public void Kv_cache_decoding_matches_the_full_forward()
    {
        var dir = TestDirs.Synth(Preset with { Seed = 34 });
        var tokens = Tokens(24, 512, 35);
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
        var f = full.ReadOnlySpan<float>();
        double d = 0, n = 0;
        for (var i = 0; i < f.Length; i++)
        {
            d += (double)(stepped[i] - f[i]) * (stepped[i] - f[i]);
            n += (double)f[i] * f[i];
        }
        Assert.InRange(Math.Sqrt(d / n), 0, CacheRelL2Tolerance);
    }

    [Fact]
    public void Missing_q_norm_is_refused_with_one_line()
    {
        var dir = TestDirs.Synth(Preset with { Layers = 1, Seed = 36 });
        var file = Path.Combine(dir, "model.safetensors");
        List<(string Name, Tensor Tensor)> tensors;
        using (var f = SafetensorsFile.Open(file))
            tensors = f.Tensors.Select(d => { using var v = f.Get(d.Name); return (d.Name, v.Clone()); }).ToList();
        var kept = tensors.Where(t => t.Name != "model.layers.0.self_attn.q_norm.weight").ToList();
        SafetensorsWriter.WriteFile(file, kept);
        foreach (var (_, t) in tensors) t.Dispose();
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(dir).Dispose());
        Assert.Contains("model.layers.0.self_attn.q_norm.weight", e.Message);
        Assert.Contains("[64]", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static double RelL2(double[][] reference, ReadOnlySpan<float> ours, int vocab)
    {
        double diff = 0, norm = 0;
        for (var t = 0; t < reference.Length; t++)
            for (var j = 0; j < vocab; j++)
            {
                var d = ours[t * vocab + j] - reference[t][j];
                diff += d * d;
                norm += reference[t][j] * reference[t][j];
            }
        return Math.Sqrt(diff / norm);
    }
}
