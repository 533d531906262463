using System.Text.Json.Nodes;
using Offload.Compression.Checkpoint;
using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Compression.SpinQuant;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>
/// The written checkpoint as llm-compressor 0.13 writes it (issue 16): the R4 tensor saved, `hadamard` at a size that is
/// not a power of two refused before any work, quantization_config equal to a fixture written by hand from the
/// documented output (spec formats §1.5, transforms §10.1), recipe.yaml and the source's extra files beside the weights,
/// and `offload inspect` showing actorder, version and recipe.
/// </summary>
public sealed class CheckpointInteropTests
{
    private const string R4Name = "model.layers.0.mlp.down_proj.R4_input.weight";

    private static CompressOptions Options(string model, string outDir, string yaml, int[]? calibration) =>
        TestCompress.Options(model, outDir, yaml, calibration);

    private static string Stories(TempDir temp)
    {
        var model = temp.Sub("stories260K");
        Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), model);
        return model;
    }

    [Fact]
    public void Hadamard_R4_at_width_172_is_refused_by_the_cli_in_one_line_before_the_work_folder_exists()
    {
        using var temp = new TempDir();
        var model = Stories(temp);
        var recipe = Path.Combine(temp.Path, "recipe.yaml");
        File.WriteAllText(recipe, "quant_stage:\n  quant_modifiers:\n    SpinQuantModifier: {rotations: [R1, R2, R4], transform_type: hadamard}\n");
        var outDir = Path.Combine(temp.Path, "out");
        var (code, _, err) = CliHarness.Run("compress", "--model", model, "--recipe", recipe, "--out", outDir, "--progress", "none");
        Assert.NotEqual(0, code);
        var line = Assert.Single(CliHarness.Lines(err));
        Assert.Contains("R4 uses transform_type hadamard at size 172", line);
        Assert.Contains("random-hadamard", line);
        Assert.Contains("transform_block_size 4", line);
        Assert.Contains("offload_kron_hadamard", line);
        Assert.False(Directory.Exists(outDir));
        Assert.False(Directory.Exists(outDir + ".offload-work"));
    }

    [Fact]
    public void A_random_hadamard_R1_R2_R4_checkpoint_holds_the_R4_tensor_and_evaluates_the_same_without_it()
    {
        using var temp = new TempDir();
        var model = Stories(temp);
        var yaml = "quant_stage:\n  quant_modifiers:\n    SpinQuantModifier: {rotations: [R1, R2, R4], transform_type: random-hadamard}\n";
        var withTensor = temp.Sub("with");
        CompressJob.Run(Options(model, withTensor, yaml, null) with { DeviceMemoryBytes = 1L << 20 });

        // The tensor: f64 [172, 172], ±1, written once (shared by every down_proj), as llm-compressor saves it.
        using (var files = SafetensorsCheckpoint.Open(withTensor))
        {
            Assert.Single(files.Names, n => n.Contains("R4_input", StringComparison.Ordinal));
            var d = files.Descriptor(R4Name);
            Assert.Equal(DType.F64, d.DType);
            Assert.Equal([172L, 172L], d.Shape.ToArray());
            using var t = files.Get(R4Name);
            foreach (var v in t.ReadOnlySpan<double>()) Assert.True(v is 1.0 or -1.0, $"entry {v}");
        }

        // The same checkpoint without the tensor (a loader that regenerates from transform_config).
        var without = temp.Sub("without");
        CopyWithout(withTensor, without, R4Name);
        // And one with a tampered tensor: the loader reads the saved matrix and refuses one that is not transform_config's.
        var tampered = temp.Sub("tampered");
        CopyWithout(withTensor, tampered, R4Name, flipFirst: true);

        using var original = ModelLoader.Load(model);
        var stream = EvalProtocol.TokenStreamOfFile(SharedData.File("tinystories_valid_head.txt"), ModelLoader.LoadTokenizer(model, original.Config));
        var windows = EvalProtocol.FirstWindows(stream, 128, 2);
        var results = new List<(double Ppl, float[] Logits)>();
        foreach (var dir in new[] { withTensor, without })
        {
            using var checkpoint = CompressedCheckpoint.Open(dir);
            var online = SpinQuantOnlineLoader.For(checkpoint);
            Assert.NotNull(online);
            using var lm = checkpoint.LoadModel([online]);
            var ppl = PerplexityEvaluator.Evaluate(lm, windows, 128).Perplexity;
            results.Add((ppl, LogitsOf(lm, windows)));
        }
        Assert.Equal(results[0].Ppl, results[1].Ppl);
        Assert.Equal(results[0].Logits, results[1].Logits);
        using (var bad = CompressedCheckpoint.Open(tampered))
        {
            var e = Assert.Throws<CompressedCheckpointException>(() => SpinQuantOnlineLoader.For(bad));
            Assert.Contains(R4Name, e.Message);
        }

        // inspect: everything here is a transform compressed-tensors builds.
        var (code, output, _) = CliHarness.Run("inspect", withTensor);
        Assert.Equal(0, code);
        Assert.Contains("loadable by compressed-tensors", output);
        Assert.DoesNotContain("needs Offload", output);
    }

    [Fact]
    public void A_kron_hadamard_checkpoint_is_written_by_opt_in_and_inspect_says_it_needs_Offload()
    {
        using var temp = new TempDir();
        var model = Stories(temp);
        var yaml = "quant_stage:\n  quant_modifiers:\n    SpinQuantModifier: {rotations: [R1, R2, R4], transform_type: hadamard, offload_kron_hadamard: true}\n";
        var outDir = temp.Sub("kron");
        CompressJob.Run(Options(model, outDir, yaml, null) with { DeviceMemoryBytes = 1L << 20 });
        var (code, output, _) = CliHarness.Run("inspect", outDir);
        Assert.Equal(0, code);
        Assert.Contains("needs Offload transform_config R4: hadamard at size 172 is not a power of two", output);
        var (jsonCode, json, _) = CliHarness.Run("inspect", outDir, "--json");
        Assert.Equal(0, jsonCode);
        var reasons = (JsonArray)JsonNode.Parse(json)!["needs_offload"]!;
        Assert.Single(reasons); // R1 (64) and R2 (8) are powers of two
    }

    [Fact]
    public void Gptq_quantization_config_equals_the_llm_compressor_fixture_and_inspect_shows_actorder_version_recipe()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        File.WriteAllText(Path.Combine(model, "generation_config.json"), "{\"bos_token_id\": 1, \"eos_token_id\": 2}\n");
        File.WriteAllText(Path.Combine(model, "tokenizer_config.json"), "{\"model_max_length\": 2048}\n");
        const string yaml = """
            quant_stage:
              quant_modifiers:
                GPTQModifier:
                  ignore: [lm_head]
                  config_groups:
                    group_0:
                      targets: [Linear]
                      weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 16}
            """;
        var outDir = temp.Sub("out");
        CompressJob.Run(Options(model, outDir, yaml, JobTestModels.Windows(4, 16, config.VocabSize, seed: 3)));

        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!["quantization_config"]!.AsObject();
        var fixture = JsonNode.Parse(File.ReadAllText(Path.Combine(SharedData.RepoRoot, "tests", "Coordinator.Tests", "Fixtures",
            "lc013_gptq_w4_group16_quantization_config.json")))!.AsObject();
        Assert.Equal(fixture.Select(p => p.Key).ToArray(), written.Select(p => p.Key).ToArray());
        foreach (var (key, value) in fixture)
            Assert.True(JsonNode.DeepEquals(value, written[key]), $"quantization_config.{key}: expected {value?.ToJsonString()}, wrote {written[key]?.ToJsonString()}");

        // recipe.yaml is the applied recipe's text; generation_config.json and the tokenizer files are copied.
        Assert.Equal(yaml, File.ReadAllText(Path.Combine(outDir, "recipe.yaml")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(model, "generation_config.json")), File.ReadAllBytes(Path.Combine(outDir, "generation_config.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(model, "tokenizer_config.json")), File.ReadAllBytes(Path.Combine(outDir, "tokenizer_config.json")));

        var (code, output, _) = CliHarness.Run("inspect", outDir);
        Assert.Equal(0, code);
        Assert.Contains("actorder static", output);
        Assert.Contains("version 0.18.0", output);
        Assert.Contains("recipe        recipe.yaml", output);
        Assert.Contains("GPTQModifier", output);
        var (jsonCode, json, _) = CliHarness.Run("inspect", outDir, "--json");
        Assert.Equal(0, jsonCode);
        Assert.Equal(yaml, JsonNode.Parse(json)!["recipe"]!.GetValue<string>());
    }

    [Fact]
    public void An_explicit_recipe_actorder_is_written_as_spelled()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        const string yaml = """
            quant_stage:
              quant_modifiers:
                GPTQModifier:
                  ignore: [lm_head]
                  config_groups:
                    group_0:
                      targets: [Linear]
                      weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 16, actorder: group}
            """;
        var outDir = temp.Sub("out");
        CompressJob.Run(Options(model, outDir, yaml, JobTestModels.Windows(4, 16, config.VocabSize, seed: 3)));
        var q = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!["quantization_config"]!;
        Assert.Equal("group", q["config_groups"]!["group_0"]!["weights"]!["actorder"]!.GetValue<string>());
        using var files = SafetensorsCheckpoint.Open(outDir);
        Assert.Contains("model.layers.0.mlp.down_proj.weight_g_idx", files.Names);
    }

    [Fact]
    public void The_GPTQModifier_actorder_is_applied_and_written_when_the_scheme_has_none()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        const string yaml = """
            quant_stage:
              quant_modifiers:
                GPTQModifier:
                  ignore: [lm_head]
                  actorder: weight
                  config_groups:
                    group_0:
                      targets: [Linear]
                      weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 16}
            """;
        var outDir = temp.Sub("out");
        CompressJob.Run(Options(model, outDir, yaml, JobTestModels.Windows(4, 16, config.VocabSize, seed: 3)));
        var q = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))!["quantization_config"]!;
        Assert.Equal("weight", q["config_groups"]!["group_0"]!["weights"]!["actorder"]!.GetValue<string>());
    }

    private static float[] LogitsOf(Offload.Model.Forward.CausalLM lm, int[] windows)
    {
        using var logits = lm.Forward(windows.AsSpan(0, 128), 1, 128);
        return logits.ReadOnlySpan<float>().ToArray();
    }

    // Copies a checkpoint folder, rewriting its safetensors without `drop` (or with its first element negated).
    private static void CopyWithout(string from, string to, string drop, bool flipFirst = false)
    {
        using (var source = SafetensorsCheckpoint.Open(from))
        using (var writer = SafetensorsCheckpointWriter.CreateIncremental(to))
        {
            foreach (var name in source.Names)
            {
                using var t = source.Get(name);
                if (name == drop)
                {
                    if (!flipFirst) continue;
                    using var copy = t.Clone();
                    copy.Span<double>()[0] = -copy.Span<double>()[0];
                    writer.Write(name, copy);
                    continue;
                }
                writer.Write(name, t);
            }
            writer.Commit();
        }
        foreach (var f in Directory.GetFiles(from))
        {
            if (f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".safetensors.index.json", StringComparison.Ordinal)) continue;
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        }
    }
}
