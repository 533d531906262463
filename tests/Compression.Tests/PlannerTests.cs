using Offload.Compression.Fusion;
using Offload.Compression.Recipes;
using Offload.Model.Config;
using Xunit;

namespace Offload.Compression.Tests;

[Collection(RotationModelsCollection.Name)]
public sealed class PlannerTests(RotationModels models)
{
    // Llama-like shapes: 2 layers, hidden 256, MLP 512, 8 q heads / 2 kv heads of 32.
    private static readonly LlamaConfig Config = new() { HiddenSize = 256, IntermediateSize = 512, NumHiddenLayers = 2, NumAttentionHeads = 8, NumKeyValueHeads = 2, HeadDim = 32, VocabSize = 64 };

    private static SpinQuantModifierSpec Spec(string rotations, string type, int? block = null) =>
        (SpinQuantModifierSpec)Recipe.Parse($"s_stage:\n  q_modifiers:\n    SpinQuantModifier: {{rotations: [{rotations}], transform_type: {type}{(block is null ? "" : $", transform_block_size: {block}")}}}\n").Modifiers.Single();

    [Fact]
    public void RotationsBindByOperandKnowledge()
    {
        var plan = FusionPlanner.Plan(Config, Spec("R1, R2, R3, R4", "hadamard"), null, mergeLora: false);
        Assert.Equal(["R1", "R2", "R3", "R4"], plan.Select(e => e.Name));
        Assert.Equal([Binding.Offline, Binding.Offline, Binding.Online, Binding.Online], plan.Select(e => e.Binding));
        Assert.All(plan.Where(e => e.Binding == Binding.Offline), e => Assert.Equal((0L, 0L, 0L), (e.Adds, e.Multiplies, e.Macs)));
        // R3: FWHT of size head_dim=32 (log2 = 5) on (8 q + 2 kv) heads in each of 2 layers.
        var r3 = plan[2];
        Assert.Equal(2L * (8 + 2) * 32 * 5, r3.Adds);
        Assert.Equal(2L * (8 + 2) * 32, r3.Multiplies);
        Assert.Equal(0L, r3.Macs);
        // R4: FWHT of the full intermediate 512 (log2 = 9), one block per layer.
        var r4 = plan[3];
        Assert.Equal(2L * 512 * 9, r4.Adds);
        Assert.Equal(2L * 512, r4.Multiplies);
    }

    [Fact]
    public void BlockedAndDenseR4Counts()
    {
        // block 128 (log2 = 7): intermediate·log2(128) adds per layer.
        var blocked = FusionPlanner.Plan(Config, Spec("R4", "hadamard", 128), null, false).Single();
        Assert.Equal(2L * 512 * 7, blocked.Adds);
        // random-matrix is dense: (512/128 blocks)·128² MACs per layer.
        var dense = FusionPlanner.Plan(Config, Spec("R4", "random-matrix", 128), null, false).Single();
        Assert.Equal(2L * 4 * 128 * 128, dense.Macs);
        Assert.Equal(0L, dense.Adds);
    }

    [Theory]
    [InlineData(4096, 4096, 16)]
    [InlineData(14336, 4096, 8)]
    [InlineData(128, 344, 4)]
    public void LoraCountsMatchFormulas(int m, int n, int r)
    {
        var online = FusionPlanner.LoraEntry("x", m, n, r, merged: false, layers: 1);
        Assert.Equal(Binding.Online, online.Binding);
        Assert.Equal((long)r * m + (long)r * n, online.Macs);                  // B·(A·x): r·n for A·x, m·r for B·(A·x)
        Assert.Contains($"{(long)m * n} + {(long)r * (m + n)} MACs/token", online.Operation);
        var merged = FusionPlanner.LoraEntry("x", m, n, r, merged: true, layers: 1);
        Assert.Equal(Binding.Offline, merged.Binding);
        Assert.Equal(0L, merged.Macs);
        Assert.Contains($"{(long)m * n} MACs/token; merge {(long)m * n * r} MACs once", merged.Operation);
    }

    [Fact]
    public void AdapterModulesArePlanned()
    {
        var dir = LoraTests.WriteAdapter(Path.Combine(models.Root, "plan-lora-" + Guid.NewGuid().ToString("N")), 8, 16,
            [("model.layers.0.self_attn.q_proj", 128, 128), ("model.layers.1.mlp.down_proj", 128, 344)], seed: 2);
        using var adapter = LoraAdapter.Load(dir);
        var online = FusionPlanner.Plan(Config, null, adapter, mergeLora: false);
        Assert.Equal([8L * (128 + 128), 8L * (128 + 344)], online.Select(e => e.Macs));
        var merged = FusionPlanner.Plan(Config, null, adapter, mergeLora: true);
        Assert.All(merged, e => Assert.Equal(Binding.Offline, e.Binding));
    }
}
