using System.Diagnostics;
using Offload.Compression.Checkpoint;
using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Compression.SpinQuant;
using Offload.Coordinator.Commands;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>`offload compress` end to end: devices do not change the bytes, a killed run resumes to the same bytes, rotation alone preserves the function.</summary>
public sealed class CompressJobTests
{
    private const string RotateGptqW4A16Channel = """
        quant_stage:
          quant_modifiers:
            SpinQuantModifier:
              rotations: [R1, R2, R4]
              transform_type: hadamard
            GPTQModifier:
              ignore: [lm_head]
              config_groups:
                group_0:
                  targets: [Linear]
                  weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
        """;

    private static CompressOptions Options(string model, string outDir, string recipeYaml, int[]? calibration, int devices, int seq = 16) =>
        TestCompress.Options(model, outDir, recipeYaml, calibration, devices, seq);

    private static Dictionary<string, byte[]> Files(string dir) =>
        Directory.GetFiles(dir).ToDictionary(Path.GetFileName, File.ReadAllBytes)!;

    [Fact]
    public void Two_and_three_devices_write_the_same_checkpoint_bytes_as_one()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var calib = JobTestModels.Windows(8, 16, config.VocabSize, seed: 3);
        var reports = new List<CompressReport>();
        foreach (var d in new[] { 1, 2, 3 }) reports.Add(CompressJob.Run(Options(model, temp.Sub($"out{d}"), RotateGptqW4A16Channel, calib, d)));
        var one = Files(temp.Sub("out1"));
        Assert.Contains("model.safetensors", one.Keys);
        Assert.Equal(7 * config.NumHiddenLayers, reports[0].QuantizedLinears);
        Assert.True(reports[0].Rotated);
        foreach (var d in new[] { 2, 3 })
        {
            var other = Files(temp.Sub($"out{d}"));
            Assert.Equal(one.Keys.Order(), other.Keys.Order());
            foreach (var (name, bytes) in one) Assert.True(bytes.AsSpan().SequenceEqual(other[name]), $"{d} devices: {name} differs from 1 device");
        }
        // The work folder is gone once the checkpoint is in place.
        Assert.False(Directory.Exists(temp.Sub("out1") + ".offload-work"));
    }

    [Theory]
    [InlineData(1, 1_400_000, 1)]
    [InlineData(2, 1_400_000, 1)]
    [InlineData(2, 2_000_000, 2)]
    [InlineData(2, 8_000_000, 1)]
    public void The_preflight_predicts_each_devices_peak_of_a_compress_run_within_10_percent(int devices, long budget, int prefetch)
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Deep());
        var calib = JobTestModels.Windows(8, 16, config.VocabSize, seed: 3);
        var ids = Enumerable.Range(0, devices).Select(i => new DeviceId(DeviceKind.Cpu, i)).ToArray();
        var plan = Planning.ResidencyPlanner.Plan(new Planning.ResidencyPlanRequest
        {
            ModelDir = model, SeqLen = 16, Samples = 8, BatchRows = 2, Devices = ids, DeviceMemoryBytes = budget, PrefetchDepth = prefetch,
            PropagationPass = true,
        });
        var yaml = "quant_stage:\n  quant_modifiers:\n    GPTQModifier: {targets: [Linear], scheme: W8A8, ignore: [lm_head]}\n";
        var report = CompressJob.Run(Options(model, temp.Sub("out"), yaml, calib, devices) with { DeviceMemoryBytes = budget, PrefetchDepth = prefetch });
        Assert.Equal(plan.Devices.Count, report.Devices.Count);
        for (var d = 0; d < plan.Devices.Count; d++)
        {
            var error = Math.Abs(plan.Devices[d].PeakBytes - report.Devices[d].PeakBytes) / (double)report.Devices[d].PeakBytes;
            Assert.True(error <= 0.10, $"{ids[d]}: predicted {plan.Devices[d].PeakBytes} B, measured {report.Devices[d].PeakBytes} B ({error:P1})");
        }
    }

    [Fact]
    public void A_second_run_refuses_a_leftover_work_folder_without_resume_and_an_existing_output()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var calib = JobTestModels.Windows(4, 16, config.VocabSize, seed: 3);
        var outDir = temp.Sub("out");
        Directory.CreateDirectory(outDir + ".offload-work");
        var e = Assert.Throws<OffloadException>(() => CompressJob.Run(Options(model, outDir, RotateGptqW4A16Channel, calib, 1)));
        Assert.Contains("--resume", e.Message);
        Directory.Delete(outDir + ".offload-work");
        CompressJob.Run(Options(model, outDir, RotateGptqW4A16Channel, calib, 1));
        var again = Assert.Throws<OffloadException>(() => CompressJob.Run(Options(model, outDir, RotateGptqW4A16Channel, calib, 1)));
        Assert.Contains("not empty", again.Message);
    }

    [Fact]
    public void A_group_size_that_does_not_divide_a_linear_is_refused_before_any_work()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var yaml = "quant_stage:\n  quant_modifiers:\n    GPTQModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head]}\n";
        var e = Assert.Throws<OffloadException>(() =>
            CompressJob.Run(Options(model, temp.Sub("out"), yaml, JobTestModels.Windows(2, 16, config.VocabSize, 1), 1)));
        Assert.Contains("group_size 128", e.Message);
        Assert.False(Directory.Exists(temp.Sub("out") + ".offload-work"));
        Assert.False(Directory.Exists(temp.Sub("out")));
    }

    [Fact]
    public void A_budget_too_small_for_one_layer_is_refused_before_the_work_folder_exists()
    {
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var outDir = temp.Sub("out");
        var e = Assert.ThrowsAny<OffloadException>(() =>
            CompressJob.Run(Options(model, outDir, RotateGptqW4A16Channel, JobTestModels.Windows(4, 16, config.VocabSize, 1), 2) with { DeviceMemoryBytes = 4096 }));
        Assert.Contains("device budget", e.Message);
        Assert.False(Directory.Exists(outDir + ".offload-work"));
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("R1, R2", "hadamard")]
    [InlineData("R1, R2, R3, R4", "hadamard, offload_kron_hadamard: true")] // 172 is not a power of two: Offload's K·2^m, by opt-in
    [InlineData("R1, R2, R3, R4", "random-hadamard")]
    [InlineData("R1, R2, R3, R4", "random-orthogonal")]
    [InlineData("R2", "random-matrix")]
    public void Rotation_alone_through_the_runtime_keeps_stories260K_logits_and_perplexity(string rotations, string type)
    {
        using var temp = new TempDir();
        var model = temp.Sub("stories260K");
        Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), model);
        var yaml = $"quant_stage:\n  quant_modifiers:\n    SpinQuantModifier: {{rotations: [{rotations}], transform_type: {type}}}\n";
        var recipe = CompressionRecipe.From(Recipe.Parse(yaml), yaml);
        var outDir = temp.Sub("rotated");
        CompressJob.Run(Options(model, outDir, yaml, null, 2) with { DeviceMemoryBytes = 1L << 20 });

        using var original = ModelLoader.Load(model);
        var stream = EvalProtocol.TokenStreamOfFile(SharedData.File("tinystories_valid_head.txt"), ModelLoader.LoadTokenizer(model, original.Config));
        var windows = EvalProtocol.FirstWindows(stream, 256, 4);
        using var checkpoint = CompressedCheckpoint.Open(outDir);
        // The online half (R3/R4) is rebuilt from the checkpoint's transform_config alone, as a loader would.
        var online = SpinQuantOnlineLoader.For(checkpoint);
        Assert.Equal(rotations.Contains("R3") || rotations.Contains("R4"), online is not null);
        using var rotated = checkpoint.LoadModel(online is null ? null : [online]);
        var diff = LogitComparison.Compare(original, rotated, windows, 256);
        Assert.True(diff.RelativeL2 <= 1e-5, $"relative L2 {diff.RelativeL2:E3}");
        var a = PerplexityEvaluator.Evaluate(original, windows, 256);
        var b = PerplexityEvaluator.Evaluate(rotated, windows, 256);
        Assert.Equal(Math.Round(a.Perplexity, 4), Math.Round(b.Perplexity, 4));
        Assert.True(Math.Abs(a.Perplexity - b.Perplexity) / a.Perplexity <= 1e-6, $"perplexity {a.Perplexity} vs {b.Perplexity}");
    }

    [Fact]
    public void The_llm_compressor_SpinQuant_W4A16_example_recipe_runs_end_to_end_and_reloads()
    {
        // llm-compressor's examples/transform/spinquant_example.py recipe, written as YAML.
        const string yaml = """
            quant_stage:
              quant_modifiers:
                SpinQuantModifier:
                  rotations: [R1, R2]
                  transform_type: hadamard
                QuantizationModifier:
                  targets: [Linear]
                  scheme: W4A16
                  ignore: [lm_head]
            """;
        using var temp = new TempDir();
        var options = new SynthOptions { Layers = 2, Hidden = 128, Intermediate = 256, Heads = 4, KvHeads = 2, Vocab = 512, DType = DType.BF16, Seed = 4, Outliers = 2 };
        var (model, _) = JobTestModels.Write(temp, options);
        var outDir = temp.Sub("w4a16");
        var report = CompressJob.Run(Options(model, outDir, yaml, null, 2));
        Assert.Equal(14, report.QuantizedLinears);
        using var checkpoint = CompressedCheckpoint.Open(outDir);
        Assert.Equal("pack-quantized", checkpoint.Format);
        Assert.Contains(checkpoint.Tensors.Names, n => n.EndsWith("q_proj.weight_packed", StringComparison.Ordinal));
        using var lm = checkpoint.LoadModel();
        using var reference = ModelLoader.Load(model);
        var windows = JobTestModels.Windows(2, 16, 512, seed: 8);
        var diff = LogitComparison.Compare(reference, lm, windows, 16);
        // int4 weights change the function, but not beyond recognition.
        Assert.InRange(diff.RelativeL2, 1e-4, 0.5);
    }

    [Fact]
    public void A_compress_killed_mid_calibration_resumes_to_the_same_bytes()
    {
        using var temp = new TempDir();
        var (model, _) = JobTestModels.Write(temp, JobTestModels.Small());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(model, "tokenizer.bin"), overwrite: true);
        var recipe = Path.Combine(temp.Path, "recipe.yaml");
        File.WriteAllText(recipe, RotateGptqW4A16Channel);

        var baseline = temp.Sub("baseline");
        var ok = Offload(model, recipe, baseline, resume: false, killAt: null);
        Assert.True(ok.Rc == 0, ok.Err);
        var expected = Files(baseline);
        foreach (var point in new[] { "rotated", "layer:2:batch:1", "layer:3:after" })
        {
            var outDir = temp.Sub("killed-" + point.Replace(':', '-'));
            var killed = Offload(model, recipe, outDir, resume: false, killAt: point);
            Assert.True(killed.Rc == 137, $"{point}: expected SIGKILL, got exit {killed.Rc}: {killed.Err}");
            Assert.False(Directory.Exists(outDir), $"{point}: a partial output folder exists");
            var resumed = Offload(model, recipe, outDir, resume: true, killAt: null);
            Assert.True(resumed.Rc == 0, $"{point}: {resumed.Err}");
            Assert.Contains("resuming", resumed.Err);
            var actual = Files(outDir);
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (name, bytes) in expected) Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{point}: {name} differs after resume");
        }
    }

    [Fact]
    public void A_failure_inside_a_run_prints_one_line_naming_layer_and_phase_and_leaves_no_output_folder()
    {
        using var temp = new TempDir();
        var (model, _) = JobTestModels.Write(temp, JobTestModels.Small());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(model, "tokenizer.bin"), overwrite: true);
        var recipe = Path.Combine(temp.Path, "recipe.yaml");
        File.WriteAllText(recipe, RotateGptqW4A16Channel);
        var outDir = temp.Sub("out");
        var failed = Offload(model, recipe, outDir, resume: false, killAt: null, failAt: "layer:2:batch:1");
        Assert.Equal(1, failed.Rc);
        var lines = failed.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("offload:", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(lines);
        Assert.StartsWith("offload: layer 2, phase calibrate: ", line);
        Assert.DoesNotContain("   at ", failed.Err);
        Assert.False(Directory.Exists(outDir));
        // The state to resume from is kept; --resume finishes the job.
        var resumed = Offload(model, recipe, outDir, resume: true, killAt: null);
        Assert.True(resumed.Rc == 0, resumed.Err);
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors")));
    }

    [Fact]
    public void Resume_after_sigkill_at_20_seeded_random_moments_writes_the_same_bytes_and_leaves_nothing_else()
    {
        // kill -9 at 20 seeded random moments, then --resume: the checkpoint must equal the uninterrupted one byte for
        // byte, and beside it nothing may be left (no work folder, no temporary output folder). 16 seeds kill after a
        // delay drawn from [0, 0.8 × the uninterrupted run's wall time) — anywhere in start-up, rotation, calibration or
        // the write; 4 seeds kill inside the write stage, which is too short to be hit reliably by time: at a random
        // layer's first tensor, or after the checkpoint's rename into --out but before the work folder's deletion.
        using var temp = new TempDir();
        var (model, config) = JobTestModels.Write(temp, JobTestModels.Small());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(model, "tokenizer.bin"), overwrite: true);
        var recipe = Path.Combine(temp.Path, "recipe.yaml");
        File.WriteAllText(recipe, RotateGptqW4A16Channel);
        var baseline = temp.Sub("baseline");
        var watch = Stopwatch.StartNew();
        var full = Offload(model, recipe, baseline, resume: false, killAt: null);
        var wall = watch.Elapsed;
        Assert.True(full.Rc == 0, full.Err);
        var expected = Files(baseline);
        var timed = 0;
        var killedByTime = 0;
        for (var seed = 0; seed < 20; seed++)
        {
            var parent = temp.Sub($"seed-{seed}");
            Directory.CreateDirectory(parent);
            var outDir = Path.Combine(parent, "out");
            var rng = new Random(seed);
            string where;
            if (seed % 5 == 4)
            {
                var point = seed == 4 ? "written" : $"write:layer:{rng.Next(config.NumHiddenLayers)}";
                where = $"kill at {point}";
                var killed = Offload(model, recipe, outDir, resume: false, killAt: point);
                Assert.True(killed.Rc == 137, $"seed {seed} ({where}): expected SIGKILL, got exit {killed.Rc}: {killed.Err}");
            }
            else
            {
                var delay = TimeSpan.FromSeconds(rng.NextDouble() * 0.8 * wall.TotalSeconds);
                where = $"kill after {delay.TotalSeconds:F2} s";
                timed++;
                if (KilledAfter(model, recipe, outDir, delay)) killedByTime++;
            }
            // Killed after the work folder was deleted (the run was done, only exiting): nothing is left to resume.
            var done = Directory.Exists(outDir) && !Directory.Exists(outDir + ".offload-work");
            if (!done)
            {
                var resumed = Offload(model, recipe, outDir, resume: true, killAt: null);
                Assert.True(resumed.Rc == 0, $"seed {seed} ({where}): {resumed.Err}");
            }
            var actual = Files(outDir);
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (name, bytes) in expected)
                Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"seed {seed} ({where}): {name} differs after resume");
            Assert.Equal(["out"], Directory.GetFileSystemEntries(parent).Select(Path.GetFileName).ToArray());
        }
        // The delays are below the uninterrupted wall time, so most timed runs die before they finish; a loaded machine
        // may slow the baseline more than a killed run, hence not all.
        Assert.True(killedByTime >= timed / 2, $"only {killedByTime} of {timed} timed runs were killed before they finished");
    }

    // Starts compress and SIGKILLs it after delay; false when it had already finished.
    private static bool KilledAfter(string model, string recipe, string outDir, TimeSpan delay)
    {
        var psi = CompressStartInfo(model, recipe, outDir, resume: false);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (p.WaitForExit(delay)) return false;
        p.Kill(); // SIGKILL on Unix
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), "offload did not end after SIGKILL");
        _ = (stdout, stderr);
        return true;
    }

    private static ProcessStartInfo CompressStartInfo(string model, string recipe, string outDir, bool resume)
    {
        var psi = OffloadChild.StartInfo();
        foreach (var a in new[]
        {
            "compress", "--model", model, "--recipe", recipe,
            "--dataset", SharedData.File("tinystories_valid_head.txt"), "--samples", "8", "--seq-len", "16", "--batch", "2",
            "--devices", "cpu:0,cpu:1", "--device-memory", "4MiB", "--out", outDir, "--progress", "none",
        }) psi.ArgumentList.Add(a);
        if (resume) psi.ArgumentList.Add("--resume");
        psi.Environment.Remove(JobKillSwitch.Variable);
        psi.Environment.Remove(JobKillSwitch.FailVariable);
        return psi;
    }

    private static (int Rc, string Out, string Err) Offload(string model, string recipe, string outDir, bool resume, string? killAt, string? failAt = null)
    {
        var psi = CompressStartInfo(model, recipe, outDir, resume);
        if (killAt is not null) psi.Environment[JobKillSwitch.Variable] = killAt;
        if (failAt is not null) psi.Environment[JobKillSwitch.FailVariable] = failAt;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("offload compress did not finish within 120 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
