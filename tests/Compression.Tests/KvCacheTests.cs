using Offload.Compression.Gptq;
using Offload.Compression.Quantization;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Compression.Tests;

/// <summary>
/// kv_cache_scheme (formats spec §7): the k/v observers on the spec's verified numbers, a tiny layer's k_scale / v_scale
/// against an f64 recomputation of its post-RoPE keys and values, the fp8 fake-quantization of the cache on hand-worked
/// values, and the refusals.
/// </summary>
public class KvCacheTests
{
    private static QuantizationArgs Kv(string observer = "memoryless_minmax", QuantizationStrategy strategy = QuantizationStrategy.Tensor) =>
        QuantizationArgs.Create(8, QuantizationType.Float, strategy: strategy, observer: observer);

    private static LlamaConfig Config(int kvHeads, int headDim, int heads) => new()
    {
        HiddenSize = 4, IntermediateSize = 8, NumHiddenLayers = 1, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = headDim,
        VocabSize = 8, RopeTheta = 10000, RmsNormEps = 1e-6,
    };

    // Spec §7.3: two batches of absmax 8.96 then 0.8 (bf16 model); k and v carry the same values here.
    private static float ScaleAfterTwoBatches(string observer)
    {
        var config = Config(kvHeads: 1, headDim: 4, heads: 1);
        var o = new KvCacheObserver(0, Kv(observer), config);
        float[] first = [1f, -8.96f, 2f, 0.5f];
        float[] second = [0.8f, -0.25f, 0.1f, 0f];
        o.OnAttentionStates(0, [], first, first.ToArray(), 1, 1);
        o.OnAttentionStates(0, [], second, second.ToArray(), 1, 1);
        o.OnAttentionStates(1, [], [100f, 0f, 0f, 0f], [100f, 0f, 0f, 0f], 1, 1); // another layer: not observed
        var s = o.Scales(DType.BF16);
        Assert.Equal(s.K, s.V);
        Assert.Equal(DType.BF16, s.DType);
        return Assert.Single(s.K);
    }

    [Fact]
    public void Memoryless_minmax_the_default_keeps_only_the_last_batch() => Assert.Equal(0.0017852783203125f, ScaleAfterTwoBatches("memoryless_minmax"));

    [Fact]
    public void Static_minmax_keeps_the_running_range() => Assert.Equal(0.0198974609375f, ScaleAfterTwoBatches("static_minmax"));

    [Fact]
    public void Minmax_is_a_moving_average() => Assert.Equal(0.019775390625f, ScaleAfterTwoBatches("minmax"));

    [Fact]
    public void Attn_head_gives_one_scale_per_kv_head_as_the_spec_example()
    {
        // Spec §7.3: static_minmax, heads with absmax 3.0 and 8.96 → k_scale (2,1,1) = [0.006683349609375, 0.0198974609375].
        var config = Config(kvHeads: 2, headDim: 2, heads: 2);
        var o = new KvCacheObserver(0, Kv("static_minmax", QuantizationStrategy.AttnHead), config);
        // [tokens 2, kv_heads 2 · head_dim 2]: head 0 = columns 0–1, head 1 = columns 2–3.
        float[] k = [1f, -3f, 8.96f, 0.5f, 2f, 0.25f, -1f, 4f];
        o.OnAttentionStates(0, [], k, k.ToArray(), 2, 1);
        var s = o.Scales(DType.BF16);
        Assert.Equal([0.006683349609375f, 0.0198974609375f], s.K);
        Assert.Equal(new long[] { 2, 1, 1 }, KvCacheScheme.Shape(Kv(strategy: QuantizationStrategy.AttnHead), config));
        Assert.Equal(new long[] { 1 }, KvCacheScheme.Shape(Kv(), config));
    }

    [Fact]
    public void A_tiny_layers_k_and_v_scales_are_the_absmax_of_its_post_rope_keys_and_values_over_448()
    {
        // One layer: hidden 4, 2 query heads, 1 KV head of head_dim 2; two tokens. k = RoPE(RMSNorm(x)·W_kᵀ), v = RMSNorm(x)·W_vᵀ.
        var config = Config(kvHeads: 1, headDim: 2, heads: 2);
        var values = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var seed = 0;
        foreach (var spec in ModuleTree.LayerParameters(config, 0))
        {
            var n = (int)spec.Shape.Aggregate(1L, (a, b) => a * b);
            var v = new float[n];
            for (var i = 0; i < n; i++) v[i] = spec.Name.EndsWith("layernorm.weight", StringComparison.Ordinal) ? 1f : MathF.Round(MathF.Sin(0.7f * i + seed) * 8f) / 8f;
            seed++;
            values[spec.Name] = v;
            tensors[spec.Name] = Tensor.FromArray(v, spec.Shape);
        }
        using var weights = DecoderLayerWeights.From(config, 0, n => tensors[n]);
        float[] x = [1f, -2f, 0.5f, 3f, 0f, 1f, -1f, 2f]; // [batch 1, seq 2, hidden 4]

        var result = LayerQuantizer.QuantizeLayer(config, 0, weights, new Dictionary<string, QuantizationScheme>(), QuantizationMethod.Rtn,
            _ => Tensor.FromArray(x, 1, 2, 4), 1, kvCache: Kv());
        Assert.Empty(result.Linears);
        var kv = Assert.IsType<KvCacheScales>(result.KvCache);

        // f64 reference.
        var wk = values[ModuleNames.Weight(ModuleNames.KProj(0))];
        var wv = values[ModuleNames.Weight(ModuleNames.VProj(0))];
        double kMax = 0, vMax = 0;
        for (var t = 0; t < 2; t++)
        {
            var row = x.AsSpan(t * 4, 4).ToArray().Select(e => (double)e).ToArray();
            var rms = Math.Sqrt(row.Sum(e => e * e) / 4 + 1e-6);
            var n = row.Select(e => e / rms).ToArray();
            var k = new double[2];
            var v = new double[2];
            for (var o = 0; o < 2; o++)
            for (var i = 0; i < 4; i++)
            {
                k[o] += n[i] * wk[o * 4 + i];
                v[o] += n[i] * wv[o * 4 + i];
            }
            // RoPE, head_dim 2: one pair (0, 1) rotated by angle = position · theta^0.
            double angle = t, k0 = k[0] * Math.Cos(angle) - k[1] * Math.Sin(angle), k1 = k[1] * Math.Cos(angle) + k[0] * Math.Sin(angle);
            kMax = Math.Max(kMax, Math.Max(Math.Abs(k0), Math.Abs(k1)));
            vMax = Math.Max(vMax, Math.Max(Math.Abs(v[0]), Math.Abs(v[1])));
        }
        Assert.True(kMax > 0.1 && vMax > 0.1);
        Assert.Equal(kMax / 448, Assert.Single(kv.K), 1e-6 * kMax / 448);
        Assert.Equal(vMax / 448, Assert.Single(kv.V), 1e-6 * vMax / 448);
        Assert.Equal(DType.F32, kv.DType);
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void The_cache_is_fake_quantized_through_the_e4m3_grid_with_the_stored_scales()
    {
        // scale 0.5: 1.3/0.5 = 2.6 → e4m3 2.5 (spacing 0.25 in [2, 4)) → 1.25; 300/0.5 = 600 → clamped to 448 → 224;
        // −0.01/0.5 = −0.02 → e4m3 −0.01953125 (spacing 2^-9 in [2^-6, 2^-5)) → −0.009765625; 0 stays 0.
        // v with scale 2: 3/2 = 1.5 exact → 3; 7/2 = 3.5 exact → 7; −9/2 = −4.5 (spacing 0.5 in [4, 8)) → −4.5 → −9; 9.5/2 = 4.75 → 5 (ties to even mantissa: 4.5 / 5.0, 4.75 is a tie → 5.0) → 10.
        var config = Config(kvHeads: 1, headDim: 4, heads: 1);
        var hook = new KvCacheQuantHook(config, Kv(), [new KvCacheScales([0.5f], [2f], DType.F32)]);
        float[] k = [1.3f, 300f, -0.01f, 0f];
        float[] v = [3f, 7f, -9f, 9.5f];
        float[] q = [5f, 5f, 5f, 5f];
        hook.OnAttentionStates(0, q, k, v, 1, 1);
        Assert.Equal([1.25f, 224f, -0.009765625f, 0f], k);
        Assert.Equal([3f, 7f, -9f, 10f], v);
        Assert.Equal([5f, 5f, 5f, 5f], q); // queries are not part of the cache
    }

    [Fact]
    public void Per_head_scales_quantize_each_head_with_its_own_scale()
    {
        var config = Config(kvHeads: 2, headDim: 2, heads: 2);
        var hook = new KvCacheQuantHook(config, Kv(strategy: QuantizationStrategy.AttnHead), [new KvCacheScales([1f, 0.01f], [1f, 1f], DType.F32)]);
        float[] k = [1000f, 1f, 1000f, 0.52f];  // head 0 saturates at 448·1, head 1 at 448·0.01 = 4.48; 0.52/0.01 = 52 is an e4m3 value
        hook.OnAttentionStates(0, [], k, new float[4], 1, 1);
        Assert.Equal(448f, k[0]);
        Assert.Equal(1f, k[1]);
        Assert.Equal(4.48f, k[2], 1e-6f);
        Assert.Equal(0.52f, k[3], 1e-6f);
    }

    [Fact]
    public void A_recipe_may_hold_only_a_kv_cache_scheme_which_needs_calibration_and_dumps_as_the_spec_json()
    {
        const string yaml = "quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      kv_cache_scheme: {num_bits: 8, type: float, symmetric: true, strategy: tensor, dynamic: false}\n";
        var recipe = Offload.Compression.Modifiers.CompressionRecipe.From(Offload.Compression.Recipes.Recipe.Parse(yaml), yaml);
        Assert.Empty(recipe.Plan!.Groups);
        Assert.True(recipe.NeedsCalibration);
        Assert.Equal("""{"actorder":null,"block_structure":null,"dynamic":false,"group_size":null,"num_bits":8,"observer":"memoryless_minmax","observer_kwargs":{},"scale_dtype":null,"strategy":"tensor","symmetric":true,"type":"float","zp_dtype":null}""",
            new System.Text.Json.Nodes.JsonObject(recipe.Plan.KvCacheScheme!.ToJson().OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))).ToJsonString()); // config.json sorts keys
    }

    [Theory]
    [InlineData(8, QuantizationType.Int, true, false, QuantizationStrategy.Tensor, "fp8 e4m3")]
    [InlineData(4, QuantizationType.Float, true, false, QuantizationStrategy.Tensor, "fp8 e4m3")]
    [InlineData(8, QuantizationType.Float, true, true, QuantizationStrategy.Tensor, "static")]
    [InlineData(8, QuantizationType.Float, false, false, QuantizationStrategy.Tensor, "symmetric")]
    [InlineData(8, QuantizationType.Float, true, false, QuantizationStrategy.Channel, "strategy")]
    public void Unsupported_kv_cache_schemes_are_refused_in_one_line(int bits, QuantizationType type, bool symmetric, bool dynamic, QuantizationStrategy strategy, string reason)
    {
        var args = QuantizationArgs.Create(bits, type, symmetric, strategy: strategy, dynamic: dynamic ? DynamicMode.Dynamic : DynamicMode.Static);
        var e = Assert.Throws<QuantizationConfigException>(() => KvCacheScheme.Check(args, "recipe.yaml"));
        Assert.Contains(reason, e.Message);
        Assert.StartsWith("recipe.yaml: kv_cache_scheme", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }
}
