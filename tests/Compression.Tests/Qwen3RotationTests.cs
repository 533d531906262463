using Offload.Compression.Lifecycle;
using Offload.Compression.Quantization;
using Offload.Compression.Recipes;
using Offload.Compression.SpinQuant;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Xunit;
using Xunit.Abstractions;

namespace Offload.Compression.Tests;

/// <summary>The qwen3-tiny synthetic checkpoint (head_dim 64 ≠ hidden 128 / 4 heads, GQA 4/2, tied, random q/k norms) in a temp folder.</summary>
public sealed class Qwen3Model : IDisposable
{
    public Qwen3Model()
    {
        Root = Path.Combine(Path.GetTempPath(), "offload-qwen3-tests-" + Guid.NewGuid().ToString("N"));
        Dir = Path.Combine(Root, "qwen3-tiny");
        SyntheticCheckpoint.Write(Dir, SynthPresets.Get("qwen3-tiny") with { Seed = 41, Outliers = 4 });
        var rng = new Random(12);
        Stream = Enumerable.Range(0, 4 * 64).Select(_ => rng.Next(512)).ToArray();
    }

    public string Root { get; }
    public string Dir { get; }
    public int[] Stream { get; }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public sealed class Qwen3RotationTests(Qwen3Model model, ITestOutputHelper output) : IClassFixture<Qwen3Model>
{
    // The design's bound for an offline rotation of an f32 model (the acceptance: ≤ 1e-5 relative on logits).
    private const double F32RelativeL2 = 1e-5;
    // Same math, different attention blocking: f32 round-off only.
    private const double HookedRelativeL2 = 1e-5;

    private static SpinQuantModifierSpec Spec(string rotations, string type) =>
        (SpinQuantModifierSpec)Recipe.Parse($"s_stage:\n  q_modifiers:\n    SpinQuantModifier: {{rotations: [{rotations}], transform_type: {type}}}\n").Modifiers.Single();

    [Theory]
    [InlineData("R1, R2", "hadamard")]
    [InlineData("R1, R2", "random-hadamard")]
    [InlineData("R1, R2, R3, R4", "hadamard, offload_kron_hadamard: true")] // MLP 384 = 3·128: Offload's K·2^m, by opt-in
    [InlineData("R1, R2, R3, R4", "random-hadamard")]
    [InlineData("R1, R2, R3", "random-orthogonal")]
    [InlineData("R2, R4", "random-matrix")]
    public void Fused_rotations_keep_the_logits(string rotations, string type)
    {
        const int seq = 64;
        var spec = Spec(rotations, type);
        using var reference = ParameterStore.Load(model.Dir);
        Assert.Equal(ModelArchitecture.Qwen3, reference.Config.Architecture);
        using var refModel = reference.BuildModel();
        using var rotated = SpinQuantInvarianceTests.Rotate(model.Dir, spec);
        using var rotModel = rotated.BuildModel();
        var online = new SpinQuantOnline(SpinQuantPlan.Create(spec, rotated.Config));
        if (online.Any) online.Attach(rotModel);
        var diff = LogitComparison.Compare(refModel, rotModel, model.Stream, seq);
        output.WriteLine($"{rotations} {type}: logits relative L2 {diff.RelativeL2:E3}");
        Assert.True(diff.RelativeL2 <= F32RelativeL2, $"{rotations} {type}: logits relative L2 {diff.RelativeL2:E3}");
        Assert.False(rotated.Config.TieWordEmbeddings);
        Assert.Equal(ModelArchitecture.Qwen3, rotated.Config.Architecture);
    }

    [Fact]
    public void Rotation_changes_the_projections_folds_the_layer_norms_and_leaves_the_qk_norms_untouched()
    {
        using var reference = ParameterStore.Load(model.Dir);
        using var rotated = SpinQuantInvarianceTests.Rotate(model.Dir, Spec("R1, R2", "random-hadamard"));
        foreach (var name in new[] { "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight", "model.layers.1.self_attn.v_proj.weight" })
        {
            using var a = reference.Get(name);
            using var b = rotated.Get(name);
            Assert.False(a.Bytes().SequenceEqual(b.Bytes()), $"{name} should be rotated");
        }
        using (var norm = rotated.Get("model.layers.1.input_layernorm.weight")) Assert.All(norm.ToFloatArray(), v => Assert.Equal(1f, v));
        for (var l = 0; l < reference.Config.NumHiddenLayers; l++)
        {
            foreach (var name in new[] { $"model.layers.{l}.self_attn.q_norm.weight", $"model.layers.{l}.self_attn.k_norm.weight" })
            {
                using var a = reference.Get(name);
                using var b = rotated.Get(name);
                Assert.True(a.Bytes().SequenceEqual(b.Bytes()), $"{name} must not be folded or rotated");
                Assert.Contains(a.ToFloatArray(), v => Math.Abs(v - 1f) > 0.1f);
            }
        }
    }

    [Fact]
    public void Hooked_layers_without_hooks_reproduce_the_model_forward()
    {
        // The calibration / fake-quant layer is a second forward implementation: it must apply q/k norms too.
        using var m = ModelLoader.Load(model.Dir);
        using var hooked = FakeQuantModel.Create(m, (i, w) => FakeQuantModel.Shared(w, i, m.Config), []);
        var diff = LogitComparison.Compare(m, hooked, model.Stream, 64);
        output.WriteLine($"hooked vs model forward: relative L2 {diff.RelativeL2:E3}");
        Assert.True(diff.RelativeL2 < HookedRelativeL2, $"relative L2 {diff.RelativeL2:E3}");
    }

    [Fact]
    public void Mappings_are_the_llama_defaults_as_in_llm_compressor()
    {
        var m = SpinQuantMappings.For(ModelArchitecture.Qwen3);
        Assert.Equal(("re:.*q_proj$", "re:.*k_proj$", "re:.*v_proj$", "re:.*o_proj$"), (m.AttnQ, m.AttnK, m.AttnV, m.AttnO));
        Assert.Equal(["re:.*up_proj$", "re:.*gate_proj$"], m.MlpIn);
        Assert.Equal(["re:.*down_proj$"], m.MlpOut);
        Assert.False(Offload.Model.Naming.TargetMatcher.MatchName("model.layers.0.self_attn.q_norm", m.AttnQ));
        // no norm mapping names a q/k norm
        Assert.DoesNotContain(NormMapping.Defaults(ModelArchitecture.Qwen3), nm => Offload.Model.Naming.TargetMatcher.MatchName("model.layers.0.self_attn.q_norm", nm.Norm));
        Assert.DoesNotContain(NormMapping.Defaults(ModelArchitecture.Qwen3), nm => Offload.Model.Naming.TargetMatcher.MatchName("model.layers.0.self_attn.k_norm", nm.Norm));
    }
}
