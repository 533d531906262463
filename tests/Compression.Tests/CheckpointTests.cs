using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Compression.Checkpoint;
using Offload.Compression.Gptq;
using Offload.Compression.Quantization;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Compression.Tests;

[Collection(StoriesCollection.Name)]
public class CheckpointTests(StoriesModelFixture f)
{
    /// <summary>The acceptance bound: re-loaded dequantized logits versus the fake-quantized model's.</summary>
    private const double ReloadRelTolerance = 1e-6;

    private static QuantizationScheme W4Channel => new(["Linear"], QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel));

    /// <summary>Writes the fixture model with RTN qparams for <paramref name="plan"/>; <paramref name="replace"/> may substitute a module's QuantizedLinear.</summary>
    private IReadOnlyList<string> WriteRtn(string outDir, QuantizationPlan plan, Func<string, Tensor, QuantizationScheme, QuantizedLinear?>? replace = null,
        CompressedCheckpointOptions? options = null)
    {
        using var source = SafetensorsCheckpoint.Open(f.ModelDir);
        var schemes = plan.Resolve(f.Model.Config);
        var owned = new List<Tensor>();
        try
        {
            return CompressedTensorsWriter.Write(outDir, f.ModelDir, plan, source.Get, module =>
            {
                var w = source.Get(ModuleNames.Weight(module));
                owned.Add(w);
                var s = schemes[module];
                if (replace?.Invoke(module, w, s) is { } r) return r;
                var qp = WeightObserver.Observe(w.ToFloatArray(), (int)w.Dim(0), (int)w.Dim(1), s.Weights!, w.DType, module);
                return new QuantizedLinear(module, s, w, qp);
            }, options);
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
    }

    private CausalLM FakeQuant(QuantizationPlan plan)
    {
        var schemes = plan.Resolve(f.Model.Config);
        return FakeQuantModel.Create(f.Model, (i, w) => RtnWeights.Apply(w, i, schemes, f.Model.Config), [new ActivationQuantHook(f.Model.Config, schemes)]);
    }

    private double ReloadDiff(string dir, CausalLM expected)
    {
        using var ckpt = CompressedCheckpoint.Open(dir);
        using var reloaded = ckpt.LoadModel();
        var windows = EvalProtocol.FirstWindows(f.Stream, 64, 2);
        return LogitComparison.Compare(expected, reloaded, windows, 64).RelativeL2;
    }

    [Fact]
    public void Pack_quantized_w4_channel_has_the_reference_tensors_and_reloads_to_the_fake_quantized_logits()
    {
        var dir = f.TempDir("w4a16");
        var plan = QuantizationPlan.ForLinears(W4Channel);
        var files = WriteRtn(dir, plan);
        Assert.Equal(["config.json", "model.safetensors", "tokenizer.bin"], files);
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(dir)!, Path.GetFileName(dir) + ".tmp-*"));
        using (var st = SafetensorsCheckpoint.Open(dir))
        {
            const string m = "model.layers.2.mlp.down_proj";
            Assert.False(st.Contains(m + ".weight"));
            Assert.False(st.Contains(m + ".weight_zero_point"));
            var packed = st.Descriptor(m + ".weight_packed");
            Assert.Equal(DType.I32, packed.DType);
            Assert.Equal(new long[] { 64, 22 }, packed.Shape); // ⌈172·4/32⌉ = 22
            using var shape = st.Get(m + ".weight_shape");
            Assert.Equal(DType.I64, shape.DType);
            Assert.Equal([64L, 172L], shape.ReadOnlySpan<long>().ToArray());
            var scale = st.Descriptor(m + ".weight_scale");
            Assert.Equal(DType.F32, scale.DType);
            Assert.Equal(new long[] { 64, 1 }, scale.Shape);
            Assert.True(st.Contains("model.embed_tokens.weight"));
            Assert.True(st.Contains("model.layers.0.input_layernorm.weight"));
        }
        using var expected = FakeQuant(plan);
        Assert.True(ReloadDiff(dir, expected) <= ReloadRelTolerance);
    }

    [Fact]
    public void Config_json_has_sorted_keys_and_the_quantization_config_of_the_reference()
    {
        var dir = f.TempDir("config");
        var transform = JsonNode.Parse("""{"config_groups": {"R1": {"type": "hadamard", "apply": [{"targets": ["lm_head"], "location": "weight_input", "inverse": true, "ignore": []}]}}}""");
        WriteRtn(dir, QuantizationPlan.ForLinears(W4Channel), options: new CompressedCheckpointOptions { TransformConfig = transform });
        var text = File.ReadAllText(Path.Combine(dir, "config.json"));
        Assert.EndsWith("}\n", text);
        Assert.Contains("\n  \"", text); // two-space indent
        using var doc = JsonDocument.Parse(text);
        var keys = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys);
        var qc = doc.RootElement.GetProperty("quantization_config");
        Assert.Equal(["config_groups", "format", "global_compression_ratio", "ignore", "kv_cache_scheme", "quant_method", "quantization_status",
            "sparsity_config", "transform_config", "version"], qc.EnumerateObject().Select(p => p.Name));
        Assert.Equal("compressed-tensors", qc.GetProperty("quant_method").GetString());
        Assert.Equal("pack-quantized", qc.GetProperty("format").GetString());
        Assert.Equal("compressed", qc.GetProperty("quantization_status").GetString());
        Assert.Equal(["lm_head"], qc.GetProperty("ignore").EnumerateArray().Select(e => e.GetString()));
        var g0 = qc.GetProperty("config_groups").GetProperty("group_0");
        Assert.Equal("pack-quantized", g0.GetProperty("format").GetString());
        Assert.Equal(4, g0.GetProperty("weights").GetProperty("num_bits").GetInt32());
        Assert.Equal("channel", g0.GetProperty("weights").GetProperty("strategy").GetString());
        Assert.Equal(JsonValueKind.Null, g0.GetProperty("input_activations").ValueKind);
        Assert.Equal("hadamard", qc.GetProperty("transform_config").GetProperty("config_groups").GetProperty("R1").GetProperty("type").GetString());
        Assert.Single(qc.GetProperty("config_groups").EnumerateObject());
        // A fused-only transform_config needs no online hooks to load.
        using var ckpt = CompressedCheckpoint.Open(dir);
        Assert.Empty(ckpt.OnlineTransforms());
    }

    [Fact]
    public void Asymmetric_group_zero_points_are_packed_along_dim0_and_reload_exactly()
    {
        var dir = f.TempDir("asym");
        var plan = QuantizationPlan.ForLinears(new QuantizationScheme(["Linear"], QuantizationArgs.Create(4, symmetric: false, groupSize: 4)));
        WriteRtn(dir, plan);
        using (var st = SafetensorsCheckpoint.Open(dir))
        {
            var zp = st.Descriptor("model.layers.0.self_attn.k_proj.weight_zero_point");
            Assert.Equal(DType.I32, zp.DType);
            Assert.Equal(new long[] { 4, 16 }, zp.Shape); // [⌈32·4/32⌉, 64/4]
        }
        using var expected = FakeQuant(plan);
        Assert.True(ReloadDiff(dir, expected) <= ReloadRelTolerance);
    }

    [Fact]
    public void W8a8_is_int_quantized_and_reloads_with_activation_quantization()
    {
        var dir = f.TempDir("w8a8");
        var plan = QuantizationPlan.ForLinears(QuantizationPresets.Get("W8A8", ["Linear"]));
        WriteRtn(dir, plan);
        using (var st = SafetensorsCheckpoint.Open(dir))
        {
            var w = st.Descriptor("model.layers.1.mlp.up_proj.weight");
            Assert.Equal(DType.I8, w.DType);
            Assert.Equal(new long[] { 172, 64 }, w.Shape);
            Assert.False(st.Contains("model.layers.1.mlp.up_proj.weight_packed"));
        }
        using (var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "config.json"))))
            Assert.Equal("int-quantized", doc.RootElement.GetProperty("quantization_config").GetProperty("format").GetString());
        using var expected = FakeQuant(plan);
        Assert.True(ReloadDiff(dir, expected) <= ReloadRelTolerance);
    }

    [Fact]
    public void Gptq_group_actorder_writes_g_idx_and_reloads_the_gptq_weight_exactly()
    {
        var dir = f.TempDir("gidx");
        var args = QuantizationArgs.Create(4, groupSize: 4, actOrder: ActivationOrdering.Group);
        var plan = QuantizationPlan.ForLinears(new QuantizationScheme(["Linear"], args));
        const string target = "model.layers.0.self_attn.q_proj";
        float[]? gptqWeight = null;
        int[]? gIdx = null;
        WriteRtn(dir, plan, (module, w, s) =>
        {
            if (module != target) return null;
            var rng = new Random(4);
            var x = new float[200 * 64];
            for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() - 0.5) * (1 + i % 64 / 8);
            var acc = new HessianAccumulator(64);
            acc.Add(x, 200, 1);
            var r = GptqSolver.QuantizeWeight(w.ToFloatArray(), 64, 64, acc.Normalized(), args, w.DType, module: module);
            gptqWeight = r.Weight;
            gIdx = r.GIdx;
            return new QuantizedLinear(module, s, Tensor.FromArray(r.Weight, 64, 64), r.QParams, r.GIdx);
        });
        using var ckpt = CompressedCheckpoint.Open(dir);
        using (var g = ckpt.Tensors.Get(target + ".weight_g_idx"))
            Assert.Equal(gIdx, g.ReadOnlySpan<int>().ToArray());
        Assert.False(ckpt.Tensors.Contains("model.layers.0.self_attn.k_proj.weight_g_idx"));
        using var w = ckpt.Weight(target);
        Assert.Equal(gptqWeight, w.ToFloatArray());
    }

    [Fact]
    public void Sharded_output_is_deterministic_and_reloads()
    {
        var plan = QuantizationPlan.ForLinears(W4Channel);
        var a = f.TempDir("shard-a");
        var b = f.TempDir("shard-b");
        var options = new CompressedCheckpointOptions { MaxShardBytes = 40_000 };
        var files = WriteRtn(a, plan, options: options);
        WriteRtn(b, plan, options: options);
        Assert.Contains("model.safetensors.index.json", files);
        Assert.True(files.Count(n => n.StartsWith("model-0", StringComparison.Ordinal)) > 1);
        foreach (var name in files) Assert.Equal(File.ReadAllBytes(Path.Combine(a, name)), File.ReadAllBytes(Path.Combine(b, name)));
        using var expected = FakeQuant(plan);
        Assert.True(ReloadDiff(a, expected) <= ReloadRelTolerance);
    }

    [Fact]
    public void A_non_empty_output_folder_is_refused_and_left_alone()
    {
        var dir = f.TempDir("exists");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "keep.txt"), "x");
        var e = Assert.Throws<CompressedCheckpointException>(() => WriteRtn(dir, QuantizationPlan.ForLinears(W4Channel)));
        Assert.Contains(dir, e.Message);
        Assert.Equal(["keep.txt"], Directory.GetFiles(dir).Select(Path.GetFileName));
    }

    [Fact]
    public void Online_transforms_without_hooks_are_refused_at_load()
    {
        var dir = f.TempDir("online");
        var transform = JsonNode.Parse("""{"config_groups": {"R4": {"type": "hadamard", "apply": [{"targets": ["re:.*down_proj$"], "location": "input", "inverse": false, "ignore": []}]}}}""");
        WriteRtn(dir, QuantizationPlan.ForLinears(W4Channel), options: new CompressedCheckpointOptions { TransformConfig = transform });
        using var ckpt = CompressedCheckpoint.Open(dir);
        Assert.Equal([("R4", "input")], ckpt.OnlineTransforms());
        Assert.Throws<CompressedCheckpointException>(() => ckpt.LoadModel());
    }
}
