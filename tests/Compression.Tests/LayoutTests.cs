using Offload.Compression.Fusion;
using Offload.Compression.Lifecycle;
using Offload.Model.Evaluation;
using Offload.Model.SafeTensors;
using Offload.Tensors;
using Xunit;

namespace Offload.Compression.Tests;

[Collection(RotationModelsCollection.Name)]
public sealed class LayoutTests(RotationModels models)
{
    // The bound for the fused layout: same logits as the unfused model. One GEMM over the concatenated rows
    // computes each output element with the same dot product as the separate GEMMs, so only blocking order may differ.
    private const double FusedRelativeL2 = 1e-6;

    [Fact]
    public void FusedQkvGateUpGivesSameLogits()
    {
        const int seq = 64;
        using var store = ParameterStore.Load(models.Synthetic);
        using var unfused = store.BuildModel();
        using var fused = LayoutFusion.BuildFusedModel(store);
        var diff = LogitComparison.Compare(unfused, fused, models.SyntheticStream, seq);
        Assert.True(diff.RelativeL2 <= FusedRelativeL2, $"fused layout: logits relative L2 {diff.RelativeL2:E3}");
    }

    [Fact]
    public void StoriesFusedLayoutGivesSameLogits()
    {
        var windows = EvalProtocol.FirstWindows(models.StoriesStream);
        using var store = ParameterStore.Load(models.Stories);
        using var unfused = store.BuildModel();
        using var fused = LayoutFusion.BuildFusedModel(store);
        var diff = LogitComparison.Compare(unfused, fused, windows.AsSpan(0, 2 * EvalProtocol.DefaultSeqLen), EvalProtocol.DefaultSeqLen);
        Assert.True(diff.RelativeL2 <= FusedRelativeL2, $"stories260K fused layout: logits relative L2 {diff.RelativeL2:E3}");
    }

    [Fact]
    public void WriterConcatenatesRowsInDeclaredOrder()
    {
        using var store = ParameterStore.Load(models.Synthetic);
        var path = Path.Combine(models.Root, "fused-" + Guid.NewGuid().ToString("N") + ".safetensors");
        LayoutFusion.WriteFused(store, path, [LayoutRule.Qkv, LayoutRule.GateUp]);
        using var file = SafetensorsFile.Open(path);
        var names = file.Tensors.Select(d => d.Name).ToHashSet();
        Assert.DoesNotContain("model.layers.0.self_attn.q_proj.weight", names);
        Assert.DoesNotContain("model.layers.1.mlp.up_proj.weight", names);
        Assert.Contains("model.layers.0.self_attn.o_proj.weight", names);
        for (var layer = 0; layer < 2; layer++)
        {
            using var qkv = file.Get($"model.layers.{layer}.self_attn.qkv_proj.weight");
            Assert.Equal(new long[] { 128 + 64 + 64, 128 }, qkv.Shape.ToArray());
            var rows = qkv.ToFloatArray();
            var offset = 0;
            foreach (var part in new[] { "q_proj", "k_proj", "v_proj" })
            {
                using var w = store.Get($"model.layers.{layer}.self_attn.{part}.weight");
                var expected = w.ToFloatArray();
                Assert.Equal(expected, rows.AsSpan(offset, expected.Length).ToArray());
                offset += expected.Length;
            }
            using var gu = file.Get($"model.layers.{layer}.mlp.gate_up_proj.weight");
            Assert.Equal(new long[] { 2 * 344, 128 }, gu.Shape.ToArray());
            using var gate = store.Get($"model.layers.{layer}.mlp.gate_proj.weight");
            using var up = store.Get($"model.layers.{layer}.mlp.up_proj.weight");
            Assert.Equal(gate.ToFloatArray().Concat(up.ToFloatArray()), gu.ToFloatArray());
        }
        Assert.False(LayoutRule.Qkv.Matches("model.layers.0.mlp"));
        Assert.True(LayoutRule.GateUp.Matches("model.layers.12.mlp"));
    }
}
