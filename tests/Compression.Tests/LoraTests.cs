using System.Globalization;
using Offload.Compression.Fusion;
using Offload.Compression.Lifecycle;
using Offload.Model.Evaluation;
using Offload.Model.SafeTensors;
using Offload.Tensors;
using Xunit;

namespace Offload.Compression.Tests;

[Collection(RotationModelsCollection.Name)]
public sealed class LoraTests(RotationModels models)
{
    // The issue's bound: the merged model equals base + adapter (W·x + s·B·(A·x) online) to 1e-5 relative on logits;
    // the two paths differ only by the one f32 rounding of W' and f32 accumulation order.
    private const double MergedRelativeL2 = 1e-5;
    // Guard: the adapter must move the logits far more than the merge tolerance, or the test could not fail.
    private const double AdapterEffect = 1e-3;

    internal static string WriteAdapter(string dir, int rank, double alpha, (string Module, int Out, int In)[] modules, int seed)
    {
        Directory.CreateDirectory(dir);
        var rng = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var tensors = new List<(string, Tensor)>();
        foreach (var (module, rows, cols) in modules)
        {
            var a = new float[rank * cols];
            for (var i = 0; i < a.Length; i++) a[i] = (float)(Gauss() / Math.Sqrt(cols));
            var b = new float[rows * rank];
            for (var i = 0; i < b.Length; i++) b[i] = (float)(0.05 * Gauss());
            tensors.Add(($"base_model.model.{module}.lora_A.weight", Tensor.FromArray(a, rank, cols)));
            tensors.Add(($"base_model.model.{module}.lora_B.weight", Tensor.FromArray(b, rows, rank)));
        }
        SafetensorsWriter.WriteFile(Path.Combine(dir, LoraAdapter.WeightsFile), tensors);
        foreach (var (_, t) in tensors) t.Dispose();
        var targets = string.Join(", ", modules.Select(m => "\"" + m.Module[(m.Module.LastIndexOf('.') + 1)..] + "\"").Distinct());
        File.WriteAllText(Path.Combine(dir, LoraAdapter.ConfigFile), string.Create(CultureInfo.InvariantCulture,
            $"{{\"peft_type\": \"LORA\", \"r\": {rank}, \"lora_alpha\": {alpha}, \"target_modules\": [{targets}], \"base_model_name_or_path\": \"synthetic\"}}"));
        return dir;
    }

    private string SyntheticAdapter() => WriteAdapter(Path.Combine(models.Root, "lora-" + Guid.NewGuid().ToString("N")), 4, 16,
    [
        ("model.layers.0.self_attn.q_proj", 128, 128), ("model.layers.0.self_attn.v_proj", 64, 128),
        ("model.layers.1.self_attn.o_proj", 128, 128), ("model.layers.1.mlp.up_proj", 344, 128), ("model.layers.1.mlp.down_proj", 128, 344),
    ], seed: 3);

    [Fact]
    public void ReadsPeftLayout()
    {
        using var adapter = LoraAdapter.Load(SyntheticAdapter());
        Assert.Equal(4, adapter.Rank);
        Assert.Equal(16.0 / 4, adapter.Scale);
        Assert.Equal(5, adapter.Modules.Count);
        var v = adapter.Modules.Single(m => m.Module == "model.layers.0.self_attn.v_proj");
        Assert.Equal((4, 128, 64), (v.Rank, v.In, v.Out));
        Assert.Contains("down_proj", adapter.TargetModules);
    }

    [Fact]
    public void MergedLogitsEqualBasePlusOnlineAdapter()
    {
        const int seq = 64;
        using var adapter = LoraAdapter.Load(SyntheticAdapter());
        using var baseStore = ParameterStore.Load(models.Synthetic);
        using var baseModel = baseStore.BuildModel();
        using var online = baseStore.BuildModel();
        new LoraOnline(adapter).Attach(online);
        using var mergedStore = ParameterStore.Load(models.Synthetic);
        LoraMerge.Merge(mergedStore, adapter);
        using var merged = mergedStore.BuildModel();
        var diff = LogitComparison.Compare(online, merged, models.SyntheticStream, seq);
        Assert.True(diff.RelativeL2 <= MergedRelativeL2, $"merged vs online LoRA: logits relative L2 {diff.RelativeL2:E3}");
        var effect = LogitComparison.Compare(baseModel, merged, models.SyntheticStream, seq);
        Assert.True(effect.RelativeL2 >= AdapterEffect, $"adapter changed logits only by {effect.RelativeL2:E3}");
    }

    [Fact]
    public void MergeMatchesF64Reference()
    {
        // W + s·B·A element by element in f64 against the GEMM-based merge.
        var rng = new Random(9);
        const int rows = 7, cols = 5, rank = 3;
        const double scale = 2.5;
        var w = Enumerable.Range(0, rows * cols).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var a = Enumerable.Range(0, rank * cols).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var b = Enumerable.Range(0, rows * rank).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var merged = LoraMerge.MergeOne(w, a, b, rows, cols, rank, scale);
        for (var i = 0; i < rows; i++)
            for (var j = 0; j < cols; j++)
            {
                var s = 0.0;
                for (var k = 0; k < rank; k++) s += b[i * rank + k] * a[k * cols + j];
                Assert.Equal(w[i * cols + j] + scale * s, merged[i * cols + j], 12);
            }
    }

    [Fact]
    public void WrongShapeIsAUserError()
    {
        var dir = WriteAdapter(Path.Combine(models.Root, "lora-bad-" + Guid.NewGuid().ToString("N")), 2, 4, [("model.layers.0.self_attn.q_proj", 64, 128)], seed: 1);
        using var adapter = LoraAdapter.Load(dir);
        using var store = ParameterStore.Load(models.Synthetic);
        var e = Assert.Throws<LoraException>(() => LoraMerge.Merge(store, adapter));
        Assert.Contains("q_proj", e.Message);
        Assert.Throws<LoraException>(() => LoraAdapter.Load(Path.Combine(models.Root, "no-such-adapter")));
    }
}
