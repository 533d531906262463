using Offload.Protocol;
using Offload.Transforms.Config;
using Xunit;

namespace Offload.Transforms.Tests;

public class TransformConfigTests
{
    // What Python's json.dumps(TransformConfig(...).model_dump()) prints for SpinQuant R1 + R2 + R4 on Llama with
    // transform_block_size 128 (field order: type, apply, randomize, requires_grad, head_dim, precision).
    private const string SpinQuantJson =
        """{"config_groups": {"R1": {"type": "hadamard", "apply": [{"targets": ["re:.*embed_tokens$", "re:.*o_proj$", "re:.*down_proj$"], "location": "weight_output", "inverse": false, "ignore": []}, {"targets": ["re:.*q_proj$", "re:.*k_proj$", "re:.*v_proj$", "re:.*up_proj$", "re:.*gate_proj$", "lm_head"], "location": "weight_input", "inverse": true, "ignore": []}], "randomize": false, "requires_grad": false, "head_dim": 128, "precision": "torch.float64"}, "R2": {"type": "hadamard", "apply": [{"targets": ["re:.*v_proj$"], "location": "weight_output", "inverse": false, "ignore": []}, {"targets": ["re:.*o_proj$"], "location": "weight_input", "inverse": true, "ignore": []}], "randomize": false, "requires_grad": false, "head_dim": 128, "precision": "torch.float64"}, "R4": {"type": "hadamard", "apply": [{"targets": ["re:.*down_proj$"], "location": "input", "inverse": false, "ignore": []}, {"targets": ["re:.*down_proj$"], "location": "weight_input", "inverse": true, "ignore": []}], "randomize": false, "requires_grad": false, "head_dim": 128, "precision": "torch.float64"}}}""";

    [Fact]
    public void RoundTripsTheLibrarySerialisationExactly()
    {
        var config = TransformConfig.FromJson(SpinQuantJson);
        Assert.Equal(["R1", "R2", "R4"], config.ConfigGroups.Select(g => g.Name));
        var r1 = config["R1"]!;
        Assert.Equal(TransformType.Hadamard, r1.Type);
        Assert.Equal(128, r1.HeadDim);
        Assert.Equal(DType.F64, r1.Precision);
        Assert.Equal(TransformLocation.WeightOutput, r1.Apply[0].Location);
        Assert.True(r1.Apply[1].Inverse);
        Assert.Equal("lm_head", r1.Apply[1].Targets[5]);
        Assert.Equal(SpinQuantJson, config.ToJson());
        Assert.True(TransformConfig.FromJson(config.ToJson()).SameAs(config));
    }

    [Fact]
    public void ConfigJsonFormIsSortedAndIndentedLikeHuggingFace()
    {
        var config = new TransformConfig([new TransformGroup("v", new TransformScheme(TransformType.RandomHadamard,
            [new TransformArgs(["Linear"], TransformLocation.Input, ignore: ["lm_head"])], precision: DType.F64))]);
        const string expected = """
            {
              "config_groups": {
                "v": {
                  "apply": [
                    {
                      "ignore": [
                        "lm_head"
                      ],
                      "inverse": false,
                      "location": "input",
                      "targets": [
                        "Linear"
                      ]
                    }
                  ],
                  "head_dim": null,
                  "precision": "torch.float64",
                  "randomize": false,
                  "requires_grad": false,
                  "type": "random-hadamard"
                }
              }
            }
            """;
        Assert.Equal(expected.Replace("\r\n", "\n"), config.ToJson(indent: 2, sortKeys: true));
    }

    [Fact]
    public void DefaultsAndSingletonWrappingFollowThePydanticModels()
    {
        var config = TransformConfig.FromJson("""{"config_groups": {"u": {"type": "random-matrix", "apply": [{"targets": "fc1", "location": "output", "ignore": "fc2"}]}}}""");
        var scheme = config["u"]!;
        Assert.False(scheme.Randomize);
        Assert.False(scheme.RequiresGrad);
        Assert.Null(scheme.HeadDim);
        Assert.Equal(DType.F32, scheme.Precision);
        Assert.Equal(["fc1"], scheme.Apply[0].Targets);
        Assert.Equal(["fc2"], scheme.Apply[0].Ignore);
        Assert.False(scheme.Apply[0].Inverse);
        Assert.Equal("""{"config_groups": {"u": {"type": "random-matrix", "apply": [{"targets": ["fc1"], "location": "output", "inverse": false, "ignore": ["fc2"]}], "randomize": false, "requires_grad": false, "head_dim": null, "precision": "torch.float32"}}}""",
            config.ToJson());
    }

    [Theory]
    [InlineData("float64", DType.F64)]
    [InlineData("torch.float64", DType.F64)]
    [InlineData("double", DType.F64)]
    [InlineData("torch.float", DType.F32)]
    [InlineData("bfloat16", DType.BF16)]
    [InlineData("torch.half", DType.F16)]
    public void PrecisionAcceptsTorchNamesWithOrWithoutThePrefix(string name, DType expected)
    {
        var config = TransformConfig.FromJson("{\"config_groups\": {\"g\": {\"type\": \"hadamard\", \"precision\": \"" + name + "\"}}}");
        Assert.Equal(expected, config["g"]!.Precision);
        Assert.Contains($"\"precision\": \"torch.{expected.ToTorchName()}\"", config.ToJson());
    }

    [Theory]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "blocksize": 3}}}""", "config_groups.g: unknown key 'blocksize'")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "apply": [{"targets": ["x"], "location": "input", "extra": 1}]}}}""", "config_groups.g.apply[0]: unknown key 'extra'")]
    [InlineData("""{"config_groups": {}, "version": 1}""", "unknown key 'version'")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "apply": [{"targets": ["x"], "location": "weights"}]}}}""", "config_groups.g.apply[0].location 'weights' is not a location")]
    [InlineData("""{"config_groups": {"g": {"type": "walsh"}}}""", "config_groups.g.type 'walsh' is not a transform type")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "head_dim": "128"}}}""", "config_groups.g.head_dim must be an integer")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "head_dim": 0}}}""", "head_dim 0 must be positive")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "apply": [{"location": "input"}]}}}""", "config_groups.g.apply[0].targets is required")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "apply": [{"targets": "x"}]}}}""", "config_groups.g.apply[0].location is required")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "apply": [{"targets": "x", "location": "input", "inverse": "yes"}]}}}""", "inverse must be true or false")]
    [InlineData("""{"config_groups": {"g": {"type": "hadamard", "precision": "int8"}}}""", "precision 'int8' is not a torch float dtype")]
    [InlineData("""{"config_groups": {"g": {"apply": []}}}""", "config_groups.g.type is required")]
    [InlineData("""{"groups": {}}""", "unknown key 'groups'")]
    [InlineData("""[1, 2]""", "must be a JSON object")]
    [InlineData("""{"config_groups": {"g": """, "not valid JSON")]
    public void StrictValidationNamesTheSourceAndField(string json, string fragment)
    {
        var ex = Assert.Throws<TransformConfigException>(() => TransformConfig.FromJson(json, "model/config.json"));
        Assert.StartsWith("model/config.json: ", ex.Message);
        Assert.Contains(fragment, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.IsAssignableFrom<OffloadException>(ex);
    }

    [Fact]
    public void NonAsciiIsEscapedAsPythonDoes()
    {
        var config = new TransformConfig([new TransformGroup("g", new TransformScheme(TransformType.Hadamard, [new TransformArgs(["modèle\t\"x\""], TransformLocation.Input)]))]);
        Assert.Contains("\"targets\": [\"mod\\u00e8le\\t\\\"x\\\"\"]", config.ToJson());
        Assert.Equal("modèle\t\"x\"", TransformConfig.FromJson(config.ToJson())["g"]!.Apply[0].Targets[0]);
    }

    [Fact]
    public void LocationsKnowWhichAreOnline()
    {
        Assert.Equal(["input", "weight_input", "weight_output", "output", "q_attn", "k_cache"], TransformLocations.All.Select(l => l.ToWireName()));
        Assert.Equal([true, false, false, true, true, true], TransformLocations.All.Select(l => l.IsOnline()));
        Assert.Equal(["hadamard", "random-hadamard", "random-matrix", "random-orthogonal"], TransformTypes.All.Select(t => t.ToWireName()));
    }

    [Fact]
    public void TargetsMatchLikeCompressedTensors()
    {
        var q = TransformTarget.Linear("model.layers.0.self_attn.q_proj", 64, 64);
        var head = TransformTarget.Linear("lm_head", 64, 512);
        var embed = TransformTarget.Embedding("model.embed_tokens", 512, 64);
        Assert.True(TransformTargetMatcher.Matches(q, "re:.*q_proj$"));
        Assert.False(TransformTargetMatcher.Matches(q, "re:q_proj$"));        // re.match anchors at the start
        Assert.True(TransformTargetMatcher.Matches(q, "re:model\\.layers\\.0")); // …but not at the end
        Assert.True(TransformTargetMatcher.Matches(q, "Linear"));
        Assert.False(TransformTargetMatcher.Matches(embed, "Linear"));
        Assert.True(TransformTargetMatcher.Matches(head, "lm_head"));
        Assert.False(TransformTargetMatcher.Matches(head, "lm"));
        var args = new TransformArgs(["Linear"], TransformLocation.Input, ignore: ["lm_head"]);
        Assert.True(TransformTargetMatcher.Matches(q, args));
        Assert.False(TransformTargetMatcher.Matches(head, args));
    }
}
