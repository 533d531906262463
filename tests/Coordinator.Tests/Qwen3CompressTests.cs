using System.Text.Json.Nodes;
using Offload.Compression.Checkpoint;
using Offload.Compression.SpinQuant;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Tests.Shared;
using Xunit;
using Xunit.Abstractions;

namespace Offload.Coordinator.Tests;

/// <summary>
/// Qwen3ForCausalLM end to end through the CLI: `offload synth --preset qwen3-tiny`, `offload compress` with SpinQuant
/// rotations and GPTQ W4A16, then `offload eval` on the compressed-tensors checkpoint.
/// </summary>
public sealed class Qwen3CompressTests(ITestOutputHelper output)
{
    [Fact]
    public void Rotated_gptq_w4a16_compress_keeps_the_architecture_and_the_qk_norms_and_reloads_in_eval()
    {
        using var temp = new TempDir();
        var model = temp.Sub("qwen3-tiny");
        var synth = CliHarness.Run("synth", "--out", model, "--preset", "qwen3-tiny", "--seed", "3");
        Assert.True(synth.Code == 0, synth.Err);
        Assert.Contains("heads 4/2×64", synth.Out);
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(model, "tokenizer.bin"), overwrite: true);
        var outDir = temp.Sub("w4a16");
        var text = SharedData.File("tinystories_valid_head.txt");

        var compress = OffloadChild.Run(
        [
            "compress", "--model", model, "--scheme", "W4A16", "--method", "gptq", "--rotations", "R1,R2,R4", "--transform-type", "random-hadamard",
            "--dataset", text, "--samples", "8", "--seq-len", "32", "--batch", "2",
            "--devices", "cpu:0,cpu:1", "--device-memory", "8MiB", "--out", outDir, "--progress", "none",
        ]);
        Assert.True(compress.Rc == 0, compress.Err);

        // config.json keeps the architecture, the explicit head_dim and gains quantization_config / transform_config.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!.AsObject();
        Assert.Equal("Qwen3ForCausalLM", config["architectures"]![0]!.GetValue<string>());
        Assert.Equal("qwen3", config["model_type"]!.GetValue<string>());
        Assert.Equal(64, config["head_dim"]!.GetValue<int>());
        Assert.NotNull(config["quantization_config"]);
        Assert.Equal(ModelArchitecture.Qwen3, LlamaConfig.Load(outDir).Architecture);

        // The q/k norms are written unchanged (never folded, never quantized); the projections are packed int4.
        using (var source = SafetensorsCheckpoint.Open(model))
        using (var written = CompressedCheckpoint.Open(outDir))
        {
            Assert.Equal("pack-quantized", written.Format);
            for (var l = 0; l < 2; l++)
            {
                foreach (var name in new[] { $"model.layers.{l}.self_attn.q_norm.weight", $"model.layers.{l}.self_attn.k_norm.weight" })
                {
                    Assert.Contains(name, written.Tensors.Names);
                    using var a = source.Get(name);
                    using var b = written.Tensors.Get(name);
                    Assert.True(a.Bytes().SequenceEqual(b.Bytes()), $"{name} changed");
                }
                Assert.Contains($"model.layers.{l}.self_attn.q_proj.weight_packed", written.Tensors.Names);
                Assert.DoesNotContain($"model.layers.{l}.self_attn.q_norm.weight_packed", written.Tensors.Names);
            }

            // Reloaded (dequantized, R4 online from transform_config): int4 changes the function, not beyond recognition.
            var online = SpinQuantOnlineLoader.For(written);
            Assert.NotNull(online);
            using var lm = written.LoadModel([online]);
            using var reference = ModelLoader.Load(model);
            var windows = JobTestModels.Windows(2, 32, 512, seed: 8);
            var diff = LogitComparison.Compare(reference, lm, windows, 32);
            output.WriteLine($"W4A16 (GPTQ, R1 R2 R4) logits vs the f32 model: relative L2 {diff.RelativeL2:E3}");
            Assert.InRange(diff.RelativeL2, 1e-4, 0.5);
        }

        var evalOriginal = CliHarness.Run("eval", "--model", model, "--text", text, "--seq-len", "32", "--windows", "4");
        var evalCompressed = CliHarness.Run("eval", "--model", outDir, "--text", text, "--seq-len", "32", "--windows", "4");
        Assert.True(evalOriginal.Code == 0, evalOriginal.Err);
        Assert.True(evalCompressed.Code == 0, evalCompressed.Err);
        var pplOriginal = Perplexity(evalOriginal.Out);
        var pplCompressed = Perplexity(evalCompressed.Out);
        output.WriteLine($"perplexity (4 × 32 tokens): f32 {pplOriginal:F4}, W4A16 {pplCompressed:F4}");
        Assert.True(double.IsFinite(pplCompressed) && pplCompressed > 1);
        Assert.InRange(pplCompressed / pplOriginal, 0.5, 2.0);
    }

    [Fact]
    public void A_qwen3_config_with_a_sliding_window_is_refused_in_one_line()
    {
        using var temp = new TempDir();
        var model = temp.Sub("windowed");
        Assert.Equal(0, CliHarness.Run("synth", "--out", model, "--preset", "qwen3-tiny", "--layers", "1").Code);
        var path = Path.Combine(model, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["use_sliding_window"] = true;
        json["sliding_window"] = 16;
        File.WriteAllText(path, json.ToJsonString());
        var r = CliHarness.Run("eval", "--model", model, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "16", "--windows", "1");
        Assert.NotEqual(0, r.Code);
        var lines = CliHarness.Lines(r.Err);
        var line = Assert.Single(lines);
        Assert.Contains("use_sliding_window", line);
        Assert.Contains("set it to false", line);
        Assert.DoesNotContain("   at ", r.Err);
    }

    private static double Perplexity(string stdout)
    {
        var line = CliHarness.Lines(stdout).Single(l => l.StartsWith("perplexity", StringComparison.Ordinal));
        return double.Parse(line["perplexity".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
