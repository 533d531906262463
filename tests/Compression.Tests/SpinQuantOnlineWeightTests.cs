using Offload.Compression.Recipes;
using Offload.Compression.SpinQuant;
using Offload.Model.Config;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Compression.Tests;

/// <summary>
/// The online transforms' weights as llm-compressor saves them (spec §3.6: one shared, unnormalised tensor under the
/// first module's name) and the refusal of a deterministic `hadamard` at a size that is not a power of two (spec §4.1, G8).
/// </summary>
public sealed class SpinQuantOnlineWeightTests
{
    // stories260K's shape: hidden 64, intermediate 172 (= 43·4), head_dim 8.
    private static readonly LlamaConfig s_config = new()
    {
        HiddenSize = 64, IntermediateSize = 172, NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 8, NumHiddenLayers = 5, VocabSize = 512,
    };

    private static SpinQuantModifierSpec Spec(string body) =>
        (SpinQuantModifierSpec)Recipe.Parse($"s_stage:\n  q_modifiers:\n    SpinQuantModifier: {{{body}}}\n").Modifiers.Single();

    [Fact]
    public void R4_random_hadamard_is_one_f64_tensor_named_after_the_first_down_proj_and_is_the_reference_base_with_signs()
    {
        var plan = SpinQuantPlan.Create(Spec("rotations: [R1, R2, R4], transform_type: random-hadamard"), s_config);
        var (name, create) = Assert.Single(plan.OnlineWeights());
        Assert.Equal("model.layers.0.mlp.down_proj.R4_input.weight", name);
        using var t = create();
        Assert.Equal(DType.F64, t.DType);
        Assert.Equal([172L, 172L], t.Shape.ToArray());
        var m = t.ReadOnlySpan<double>().ToArray();

        // compressed-tensors: D·kron(Kᵀ, S) with S = [1] here (172 is a base order), so row i is ±(column i of the base).
        using var file = SafetensorsFile.Open(SharedData.File("reference/hadamards.safetensors"));
        using var baseTensor = file.Get("172");
        var k = baseTensor.ReadOnlySpan<sbyte>().ToArray();
        for (var i = 0; i < 172; i++)
        {
            var sign = m[i * 172] * k[i];
            Assert.True(sign is 1.0 or -1.0, $"row {i}: entry {m[i * 172]}");
            for (var j = 0; j < 172; j++)
                Assert.True(m[i * 172 + j] == sign * k[j * 172 + i], $"[{i}, {j}] = {m[i * 172 + j]}, expected {sign * k[j * 172 + i]}");
        }
    }

    [Fact]
    public void R3_and_R4_are_two_tensors_in_the_scheme_precision_and_fused_rotations_save_none()
    {
        var plan = SpinQuantPlan.Create(Spec("rotations: [R1, R2, R3, R4], transform_type: random-hadamard, precision: float32"), s_config);
        var weights = plan.OnlineWeights();
        Assert.Equal(["model.layers.0.self_attn.R3_q_attn.weight", "model.layers.0.mlp.down_proj.R4_input.weight"], weights.Select(w => w.Name).ToArray());
        using var r3 = weights[0].Create();
        Assert.Equal(DType.F32, r3.DType);
        Assert.Equal([8L, 8L], r3.Shape.ToArray());
        foreach (var v in r3.ReadOnlySpan<float>()) Assert.True(v is 1f or -1f);
        Assert.Empty(SpinQuantPlan.Create(Spec("rotations: [R1, R2], transform_type: random-hadamard"), s_config).OnlineWeights());
    }

    [Fact]
    public void Hadamard_R4_at_width_172_is_refused_in_one_line_naming_the_size_and_the_fixes()
    {
        var e = Assert.Throws<SpinQuantException>(() => SpinQuantPlan.CheckSizes(Spec("rotations: [R1, R2, R4], transform_type: hadamard"), s_config));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Contains("R4 uses transform_type hadamard at size 172", e.Message);
        Assert.Contains("not a power of two", e.Message);
        Assert.Contains("random-hadamard", e.Message);
        Assert.Contains("transform_block_size 4", e.Message); // 172 = 43·4: the largest power of two dividing it
        Assert.Contains("offload_kron_hadamard: true", e.Message);
        // Create refuses too (before building any matrix).
        Assert.Throws<SpinQuantException>(() => SpinQuantPlan.Create(Spec("rotations: [R4], transform_type: hadamard"), s_config));
    }

    [Fact]
    public void Powers_of_two_a_power_of_two_block_random_hadamard_and_the_explicit_key_are_accepted()
    {
        SpinQuantPlan.CheckSizes(Spec("rotations: [R1, R2], transform_type: hadamard"), s_config); // 64 and 8
        SpinQuantPlan.CheckSizes(Spec("rotations: [R1, R2, R4], transform_type: hadamard, transform_block_size: 4"), s_config);
        SpinQuantPlan.CheckSizes(Spec("rotations: [R1, R2, R4], transform_type: random-hadamard"), s_config);
        var kron = Spec("rotations: [R4], transform_type: hadamard, offload_kron_hadamard: true");
        Assert.True(kron.KronHadamard);
        var plan = SpinQuantPlan.Create(kron, s_config);
        Assert.Equal(172, plan.R4!.Size);
    }
}
