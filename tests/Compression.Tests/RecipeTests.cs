using Offload.Compression.Recipes;
using Xunit;
using Offload.Protocol;
using Offload.Transforms.Config;

namespace Offload.Compression.Tests;

public sealed class RecipeTests
{
    // llm-compressor examples/transform/spinquant_example.py, written as a YAML recipe.
    private const string SpinQuantW4A16 = """
        quant_stage:
          quant_modifiers:
            SpinQuantModifier:
              rotations: [R1, R2, R4]
              transform_block_size: 64
              transform_type: random-hadamard
            QuantizationModifier:
              targets: Linear
              scheme: W4A16
              ignore: [lm_head]
        """;

    [Fact]
    public void SpinQuantW4A16ExampleParses()
    {
        var recipe = Recipe.Parse(SpinQuantW4A16, "spinquant.yaml");
        var stage = Assert.Single(recipe.Stages);
        Assert.Equal("quant_stage", stage.Name);
        Assert.Equal(2, stage.Modifiers.Count);
        var spin = Assert.IsType<SpinQuantModifierSpec>(stage.Modifiers[0]);
        Assert.Equal(["R1", "R2", "R4"], spin.Rotations);
        Assert.Equal(64, spin.TransformBlockSize);
        Assert.Equal(TransformType.RandomHadamard, spin.TransformType);
        Assert.Equal(DType.F64, spin.Precision);
        Assert.False(spin.CenterEmbeddings);
        Assert.Equal("spinquant.yaml:3", spin.Location);
        var quant = Assert.IsType<QuantizationModifierSpec>(stage.Modifiers[1]);
        Assert.False(quant.IsGptq);
        Assert.Equal(["Linear"], quant.Targets);
        Assert.Equal(["lm_head"], quant.Ignore);
        var (preset, targets) = Assert.Single(quant.Presets);
        Assert.Equal("W4A16", preset);
        Assert.Equal(["Linear"], targets);
    }

    [Fact]
    public void GptqWithConfigGroupsParsesEveryField()
    {
        const string yaml = """
            quant_stage:
              run_type: oneshot
              quant_modifiers:
                SpinQuantModifier: {rotations: [r1, R2], transform_type: hadamard, precision: torch.float32}
                GPTQModifier:
                  ignore: ["lm_head", "re:.*mlp.gate$"]
                  dampening_frac: 0.001
                  block_size: 64
                  actorder: static
                  offload_hessians: true
                  config_groups:
                    group_0:
                      targets: [Linear]
                      weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 128, observer: mse}
                      input_activations: {num_bits: 8, type: int, strategy: token, dynamic: true}
            """;
        var recipe = Recipe.Parse(yaml);
        var spin = Assert.IsType<SpinQuantModifierSpec>(recipe.Modifiers.First());
        Assert.Equal(["R1", "R2"], spin.Rotations);
        Assert.Equal(DType.F32, spin.Precision);
        var gptq = Assert.IsType<QuantizationModifierSpec>(recipe.Modifiers.Last());
        Assert.True(gptq.IsGptq);
        Assert.Equal(0.001, gptq.DampeningFrac);
        Assert.Equal(64, gptq.BlockSize);
        Assert.Equal("static", gptq.ActOrder); // kept as spelled (compressed-tensors writes the alias back)
        Assert.True(gptq.OffloadHessians);
        var g = Assert.Single(gptq.ConfigGroups);
        Assert.Equal("group_0", g.Name);
        Assert.Equal(4, g.Weights!.NumBits);
        Assert.Equal("group", g.Weights.Strategy);
        Assert.Equal(128, g.Weights.GroupSize);
        Assert.Equal("mse", g.Weights.Observer);
        Assert.Equal("true", g.InputActivations!.Dynamic);
        Assert.Equal("token", g.InputActivations.Strategy);
    }

    [Fact]
    public void SchemeMappingAndLooseModifierGroup()
    {
        const string yaml = """
            quant_modifiers:
              QuantizationModifier:
                scheme: {W8A8: [re:.*self_attn.*], FP8_DYNAMIC: [re:.*mlp.*]}
            """;
        var q = Assert.IsType<QuantizationModifierSpec>(Assert.Single(Recipe.Parse(yaml).Modifiers));
        Assert.Equal(2, q.Presets.Count);
        Assert.Equal("FP8_DYNAMIC", q.Presets[1].Preset);
        Assert.Equal(["re:.*mlp.*"], q.Presets[1].Targets);
    }

    [Theory]
    [InlineData("    SpinQuantModifier: {rotations: [R1], transform_typo: hadamard}", 3, "unknown argument 'transform_typo' for SpinQuantModifier")]
    [InlineData("    SpinQuantModfier: {}", 3, "unknown modifier 'SpinQuantModfier'")]
    [InlineData("    SpinQuantModifier:\n      transform_block_size: \"64\"", 4, "'transform_block_size' of SpinQuantModifier must be an integer")]
    [InlineData("    SpinQuantModifier:\n      rotations: [R1, R5]", 4, "must be a list of R1, R2, R3, R4")]
    [InlineData("    SpinQuantModifier:\n      randomize: true", 4, "randomize: true is not implemented")]
    [InlineData("    GPTQModifier:\n      scheme: W4A16\n      dampening_frac: lots", 5, "'dampening_frac' of GPTQModifier must be a number")]
    [InlineData("    QuantizationModifier:\n      scheme: W4A17", 4, "unknown quantization scheme 'W4A17'")]
    [InlineData("    QuantizationModifier:\n      targets: Linear", 3, "needs 'scheme'")]
    [InlineData("    QuantizationModifier:\n      config_groups:\n        g:\n          targets: [Linear]\n          weights: {num_bits: 4, strategy: row}", 7, "strategy 'row' is not one of")]
    [InlineData("    QuantizationModifier:\n      config_groups:\n        g:\n          targets: [Linear]\n          weights: {num_bits: 4, symmetric: maybe}", 7, "'symmetric' of config group 'g' weights must be true or false")]
    public void BadRecipesGiveOneLineNamingTheLine(string modifiers, int line, string expected)
    {
        var yaml = "a_stage:\n  mods_modifiers:\n" + modifiers + "\n";
        var e = Assert.Throws<RecipeException>(() => Recipe.Parse(yaml, "bad.yaml"));
        Assert.IsAssignableFrom<OffloadException>(e);
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith($"bad.yaml:{line}:", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void InvalidYamlAndUnknownTopLevelKeyNameTheLine()
    {
        var e = Assert.Throws<RecipeException>(() => Recipe.Parse("a_stage:\n  x_modifiers:\n    SpinQuantModifier: {rotations: [R1\n", "r.yaml"));
        Assert.StartsWith("r.yaml:", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var e2 = Assert.Throws<RecipeException>(() => Recipe.Parse("oops: 1\n", "r.yaml"));
        Assert.StartsWith("r.yaml:1:", e2.Message);
    }

    [Fact]
    public void MappingsOverrideAndTransformConfigPassThrough()
    {
        const string yaml = """
            s_stage:
              m_modifiers:
                SpinQuantModifier:
                  center_embeddings: true
                  mappings: {attn_o: "re:.*out_proj$", mlp_in: ["re:.*w1$", "re:.*w3$"]}
                  norm_mappings:
                    - {norm: "re:.*ln1$", linears: ["re:.*wq$"]}
            """;
        var spin = Assert.IsType<SpinQuantModifierSpec>(Assert.Single(Recipe.Parse(yaml).Modifiers));
        Assert.True(spin.CenterEmbeddings);
        Assert.Equal("re:.*out_proj$", spin.Mappings!.AttnO);
        Assert.Equal("re:.*q_proj$", spin.Mappings.AttnQ);
        Assert.Equal(["re:.*w1$", "re:.*w3$"], spin.Mappings.MlpIn);
        var nm = Assert.Single(spin.NormMappings!);
        Assert.Equal("re:.*ln1$", nm.Norm);
    }
}
