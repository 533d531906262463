using Offload.Compression.Checkpoint;
using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Coordinator.Job;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>
/// `offload compress` with static input activations (FP8's input_scale, NVFP4's input_global_scale): a
/// QuantizationModifier now calibrates too, the scales land in the checkpoint as compressed-tensors stores them, 1 and 2
/// devices write the same bytes, and the reloaded checkpoint applies them.
/// </summary>
public sealed class StaticActivationCompressTests
{
    private static CompressOptions Options(string model, string outDir, string recipeYaml, int[]? calibration, int devices) =>
        TestCompress.Options(model, outDir, recipeYaml, calibration, devices);

    private static string RecipeYaml(string modifier, string scheme) => $$"""
        quant_stage:
          quant_modifiers:
            {{modifier}}: {targets: [Linear], scheme: {{scheme}}, ignore: [lm_head]}
        """;

    [Theory]
    [InlineData("QuantizationModifier", "FP8")]
    [InlineData("GPTQModifier", "FP8")]
    [InlineData("QuantizationModifier", "NVFP4")]
    [InlineData("GPTQModifier", "NVFP4")]
    public void Static_input_scales_are_calibrated_written_and_applied(string modifier, string scheme)
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var calib = JobTestModels.Windows(8, 16, config.VocabSize, seed: 5);
        var yaml = RecipeYaml(modifier, scheme);
        Assert.Throws<OffloadException>(() => CompressJob.Run(Options(model, temp.Sub("nodata"), yaml, null, 1)));
        Assert.False(Directory.Exists(temp.Sub("nodata") + ".offload-work"));

        CompressJob.Run(Options(model, temp.Sub("one"), yaml, calib, 1));
        CompressJob.Run(Options(model, temp.Sub("two"), yaml, calib, 2));
        var one = File.ReadAllBytes(Path.Combine(temp.Sub("one"), "model.safetensors"));
        Assert.True(one.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(temp.Sub("two"), "model.safetensors"))));

        var name = scheme == "FP8" ? "input_scale" : "input_global_scale";
        using (var st = SafetensorsCheckpoint.Open(temp.Sub("one")))
        {
            for (var l = 0; l < config.NumHiddenLayers; l++)
            {
                string At(string m) => $"model.layers.{l}.{m}.{name}";
                foreach (var m in new[] { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" })
                {
                    var d = st.Descriptor(At(m));
                    Assert.Equal(scheme == "FP8" ? st.Descriptor($"model.layers.{l}.self_attn.o_proj.weight_scale").DType : DType.F32, d.DType);
                    Assert.Equal(new[] { 1L }, d.Shape);
                    using var v = st.Get(At(m));
                    Assert.True(float.IsFinite(v.ToFloatArray()[0]) && v.ToFloatArray()[0] > 0);
                }
                // q/k/v read one input: the same calibrated value; gate/up likewise.
                using var q = st.Get(At("self_attn.q_proj"));
                using var v2 = st.Get(At("self_attn.v_proj"));
                Assert.Equal(q.ToFloatArray(), v2.ToFloatArray());
            }
        }
        using var ckpt = CompressedCheckpoint.Open(temp.Sub("one"));
        Assert.NotNull(ckpt.InputScale("model.layers.0.mlp.down_proj"));
        using var reloaded = ckpt.LoadModel();
        using var logits = reloaded.Forward(calib.AsSpan(0, 16), 1, 16);
        Assert.All(logits.ToFloatArray(), x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Static_group_input_activations_are_refused_before_any_work()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        const string yaml = """
            quant_stage:
              quant_modifiers:
                QuantizationModifier:
                  ignore: [lm_head]
                  config_groups:
                    group_0:
                      targets: [Linear]
                      weights: {num_bits: 8, type: float, strategy: channel}
                      input_activations: {num_bits: 8, type: float, strategy: group, group_size: 16, dynamic: false}
            """;
        var e = Assert.Throws<OffloadException>(() => CompressJob.Run(Options(model, temp.Sub("out"), yaml, JobTestModels.Windows(4, 16, config.VocabSize, seed: 1), 1)));
        Assert.Contains("per tensor", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        Assert.False(Directory.Exists(temp.Sub("out") + ".offload-work"));
    }
}
