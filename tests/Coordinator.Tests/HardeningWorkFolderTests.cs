using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Offload.Coordinator.Job;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>
/// Issue 17, the work folder: refusals made before it exists (exit 2, one line naming the culprit and the fix, nothing
/// left on disk), one run per work folder (an OS lock naming its holder), checksummed work files redone or named on
/// --resume, no temporary output folder left behind, and one line without a .NET type name for every failure.
/// </summary>
public sealed class HardeningWorkFolderTests : IClassFixture<HardeningWorkFolderTests.Models>
{
    private const int SigKillExitCode = 137;
    private readonly Models _models;

    public HardeningWorkFolderTests(Models models) => _models = models;

    /// <summary>A 2-layer hidden-128 model with a 512-token tokenizer, a compressed copy of it, and calibration ids (shared, read-only).</summary>
    public sealed class Models : IDisposable
    {
        public Models()
        {
            Temp = new TempDir();
            (Model, _) = JobTestModels.Write(Temp, new SynthOptions { Layers = 2, Hidden = 128, Intermediate = 256, Heads = 4, KvHeads = 2, Vocab = 512, Seed = 3 });
            File.Copy(SharedData.File("tok512.bin"), Path.Combine(Model, "tokenizer.bin"), overwrite: true);
            Compressed = Temp.Sub("compressed");
            var (code, _, err) = CliHarness.Run("compress", "--model", Model, "--scheme", "W4A16", "--method", "rtn", "--out", Compressed, "--progress", "none");
            Assert.True(code == 0, err);
            Dataset = Temp.Sub("calib.jsonl");
            var rng = new Random(11);
            File.WriteAllLines(Dataset, Enumerable.Range(0, 8).Select(_ =>
                "{\"input_ids\": [" + string.Join(", ", Enumerable.Range(0, 16).Select(_ => rng.Next(512).ToString(CultureInfo.InvariantCulture))) + "]}"));
        }

        private TempDir Temp { get; }

        private (string Baseline, string Work)? _killed;

        /// <summary>
        /// An uninterrupted rotate + GPTQ run's output, and the work folder of the same run killed (SIGKILL) after its
        /// calibration: rotated/, calib/ and gptq/ complete, nothing written (made once; the rows copy it).
        /// </summary>
        public (string Baseline, string Work) Killed()
        {
            if (_killed is { } done) return done;
            var baseline = Temp.Sub("gptq-baseline");
            var b = CliHarness.Run(Gptq(this, Model, baseline));
            Assert.True(b.Code == 0, b.Err);
            var outDir = Temp.Sub("gptq-killed");
            var killed = OffloadChild.Run(Gptq(this, Model, outDir), new Dictionary<string, string> { [JobKillSwitch.Variable] = "calibrated" });
            Assert.True(killed.Rc == SigKillExitCode, $"expected SIGKILL, got {killed.Rc}: {killed.Err}");
            _killed = (baseline, outDir + ".offload-work");
            return _killed.Value;
        }

        public string Model { get; }

        public string Compressed { get; }

        public string Dataset { get; }

        public void Dispose() => Temp.Dispose();
    }

    // ---- class 6: every refusal before the work folder exists --------------------------------------------------

    /// <summary>A refusal: how to set it up in a fresh folder (returns the arguments), and what the one line must hold.</summary>
    public sealed record Refusal(string Name, Func<Models, string, string[]> Setup, string[] Line)
    {
        public override string ToString() => Name;
    }

    private static string[] Rtn(Models m, string outDir, params string[] extra) =>
        ["compress", "--model", m.Model, "--scheme", "W4A16", "--method", "rtn", "--out", outDir, "--progress", "none", .. extra];

    private static string[] Eval(Models m, string outDir) =>
        ["eval", "--model", m.Model, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "16", "--windows", "2", "--device-memory", "64MiB", "--out", outDir];

    private static string WriteFile(string path, string text = "x")
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static string CopyModel(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        return to;
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
    }

    private static void EditConfig(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, "config.json");
        var node = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    public static TheoryData<string> Refusals => new(RefusalsRows.Select(r => r.Name));

    private static readonly Refusal[] RefusalsRows =
    [
        new("out is an existing file", (m, d) => Rtn(m, WriteFile(Path.Combine(d, "out"))), ["/out: --out names an existing file", "give a folder"]),
        new("out under a file", (m, d) => Rtn(m, Path.Combine(WriteFile(Path.Combine(d, "plain")), "out")), ["plain is a file, not a folder", "choose another --out"]),
        new("out two levels under a file", (m, d) => Rtn(m, Path.Combine(WriteFile(Path.Combine(d, "plain")), "a", "out")), ["plain is a file, not a folder", "choose another --out"]),
        new("out under /proc", (m, _) => Rtn(m, "/proc/offload-hardening/out"), ["/proc/offload-hardening/out: --out", "/proc", "choose another --out"]),
        new("out under /sys", (m, _) => Rtn(m, "/sys/offload-hardening/out"), ["/sys/offload-hardening/out: --out", "/sys", "choose"]),
        new("work folder path is a file", (m, d) => { WriteFile(Path.Combine(d, "out.offload-work")); return Rtn(m, Path.Combine(d, "out")); },
            ["out.offload-work: a file is where the work folder of --out", "remove it or choose another --out"]),
        new("out is a non-empty folder", (m, d) => { WriteFile(Path.Combine(d, "out", "keep.txt")); return Rtn(m, Path.Combine(d, "out")); },
            ["/out: output folder exists and is not empty", "remove it or choose another --out"]),
        new("out is the model folder", (m, _) => Rtn(m, m.Model), ["output folder exists and is not empty", "choose another --out"]),
        new("model is compressed-tensors", (m, d) => ["compress", "--model", m.Compressed, "--scheme", "W4A16", "--method", "rtn", "--out", Path.Combine(d, "out")],
            ["compressed: already compressed (config.json has a quantization_config, quant_method compressed-tensors)", "pass the original unquantized model as --model"]),
        new("model has packed tensors but no quantization_config", (m, d) =>
            {
                var copy = CopyModel(m.Compressed, Path.Combine(d, "stripped"));
                EditConfig(copy, c => c.Remove("quantization_config"));
                return ["compress", "--model", copy, "--scheme", "W4A16", "--method", "rtn", "--out", Path.Combine(d, "out")];
            },
            ["stripped: already compressed (it holds quantized tensors such as model.layers.0.", "pass the original unquantized model as --model"]),
        new("model config has a GPTQ quantization_config", (m, d) =>
            {
                var copy = CopyModel(m.Model, Path.Combine(d, "gptq"));
                EditConfig(copy, c => c["quantization_config"] = new JsonObject { ["quant_method"] = "gptq", ["bits"] = 4 });
                return ["compress", "--model", copy, "--scheme", "W4A16", "--method", "rtn", "--out", Path.Combine(d, "out")];
            },
            ["gptq: already compressed (config.json has a quantization_config, quant_method gptq)", "as --model"]),
        new("model config has a compression_config", (m, d) =>
            {
                var copy = CopyModel(m.Model, Path.Combine(d, "old"));
                EditConfig(copy, c => c["compression_config"] = new JsonObject { ["format"] = "pack-quantized" });
                return ["compress", "--model", copy, "--scheme", "W4A16", "--method", "rtn", "--out", Path.Combine(d, "out")];
            },
            ["old: already compressed (config.json has a compression_config)", "as --model"]),
        new("device memory not a size", (m, d) => Rtn(m, Path.Combine(d, "out"), "--device-memory", "lots"), ["--device-memory", "lots"]),
        new("devices not a device", (m, d) => Rtn(m, Path.Combine(d, "out"), "--devices", "gpu0"), ["--devices: 'gpu0' is not a device", "write cpu:N"]),
        new("device memory below one layer with rotations", (m, d) =>
            ["compress", "--model", m.Model, "--scheme", "W4A16", "--method", "rtn", "--rotations", "R1", "--device-memory", "16KiB", "--out", Path.Combine(d, "out")],
            ["16", "layer"]),
        new("GPTQ budget below one layer", (m, d) =>
            ["compress", "--model", m.Model, "--scheme", "W4A16", "--method", "gptq", "--dataset", m.Dataset, "--samples", "4", "--seq-len", "16", "--batch", "2",
             "--device-memory", "16KiB", "--out", Path.Combine(d, "out")],
            ["16", "--device-memory"]),
        new("group size not dividing in_features", (m, d) =>
            {
                var recipe = WriteFile(Path.Combine(d, "recipe.yaml"),
                    "quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      ignore: [lm_head]\n      config_groups:\n        g:\n          targets: [Linear]\n" +
                    "          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 96}\n");
                return ["compress", "--model", m.Model, "--recipe", recipe, "--out", Path.Combine(d, "out")];
            },
            ["in_features 128 is not a multiple of group_size 96", "choose a group size that divides it"]),
        new("GPTQ without a dataset", (m, d) => ["compress", "--model", m.Model, "--scheme", "W4A16", "--out", Path.Combine(d, "out")], ["pass --dataset"]),
        new("seq-len below 2", (m, d) => Rtn(m, Path.Combine(d, "out"), "--seq-len", "1"), ["--seq-len 1", "between 2 and"]),
        new("recipe file missing", (m, d) => ["compress", "--model", m.Model, "--recipe", Path.Combine(d, "none.yaml"), "--out", Path.Combine(d, "out")],
            ["none.yaml: recipe file not found"]),
        new("unknown method", (m, d) => ["compress", "--model", m.Model, "--scheme", "W4A16", "--method", "awq", "--out", Path.Combine(d, "out")], ["--method awq", "use gptq or rtn"]),
        new("recipe and scheme together", (m, d) =>
            ["compress", "--model", m.Model, "--scheme", "W4A16", "--recipe", WriteFile(Path.Combine(d, "r.yaml")), "--out", Path.Combine(d, "out")],
            ["give --recipe or --scheme, not both"]),
        new("plan a recipe for a compressed model", (m, d) =>
            {
                var recipe = WriteFile(Path.Combine(d, "r.yaml"), "quant_stage:\n  quant_modifiers:\n    SpinQuantModifier: {rotations: [R1]}\n");
                return ["plan", "--model", m.Compressed, "--recipe", recipe];
            },
            ["compressed: already compressed (config.json has a quantization_config", "pass the original unquantized model as --model"]),
        new("eval out is an existing file", (m, d) => Eval(m, WriteFile(Path.Combine(d, "out"))), ["/out: --out names an existing file"]),
        new("eval out under a file", (m, d) => Eval(m, Path.Combine(WriteFile(Path.Combine(d, "plain")), "out")), ["plain is a file, not a folder", "choose another --out"]),
        new("eval out under /proc", (m, _) => Eval(m, "/proc/offload-hardening/eval"), ["/proc/offload-hardening/eval: --out", "choose another --out"]),
    ];

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Refused_with_exit_2_and_one_line_before_the_work_folder_exists(string name)
    {
        var row = RefusalsRows.Single(r => r.Name == name);
        using var temp = new TempDir();
        var args = row.Setup(_models, temp.Path);
        var before = Snapshot(temp.Path);
        var (code, _, err) = CliHarness.Run(args);
        Assert.True(code == CliRunner.UsageError, $"{row.Name}: exit {code}: {err}");
        var line = OneOffloadLine(err);
        foreach (var part in row.Line) Assert.Contains(part, line);
        // Nothing was created: no work folder, no output, no temporary folder (beside the setup files).
        Assert.Equal(before, Snapshot(temp.Path));
        Assert.Empty(Directory.EnumerateDirectories(Path.GetDirectoryName(_models.Model)!, "*.offload-work"));
    }

    // ---- class 7 and 9: one run per work folder; a killed run's temporary output removed by the next -------------

    [Fact]
    public void A_second_run_on_a_held_work_folder_is_refused_naming_the_holder_and_resume_after_kill_removes_its_debris()
    {
        using var temp = new TempDir();
        var baseline = temp.Sub("baseline");
        Assert.Equal(0, CliHarness.Run(Rtn(_models, baseline)).Code);

        var outDir = temp.Sub("out");
        using var child = StartStopped(Rtn(_models, outDir), "write:layer:1", "reaching the write"); // frozen inside the write: lock held, temporary output folder there
        try
        {
            var work = outDir + ".offload-work";
            Assert.Single(Directory.GetDirectories(temp.Path, "out.tmp-*"));

            // A second run, without and with --resume, and an eval onto the same --out's work folder: one line each, exit 2.
            foreach (var resume in new[] { false, true })
            {
                var (code, _, err) = CliHarness.Run(resume ? Rtn(_models, outDir, "--resume") : Rtn(_models, outDir));
                Assert.True(code == CliRunner.UsageError, err);
                Assert.Equal($"offload: {work}: another offload run (pid {child.Id} on host {Environment.MachineName}) is using this work folder; wait for it to end or stop it",
                    OneOffloadLine(err));
            }
            Assert.Single(Directory.GetDirectories(temp.Path, "out.tmp-*"));

            // kill -9: the OS drops the lock; the stale lock file does not block --resume, which removes the debris.
            child.Kill();
            Assert.True(child.WaitForExit(TimeSpan.FromSeconds(30)));
            Assert.Equal(SigKillExitCode, child.ExitCode);
            Assert.Contains("pid", File.ReadAllText(Path.Combine(work, WorkFolderLock.FileName)));
            var resumed = CliHarness.Run(Rtn(_models, outDir, "--resume"));
            Assert.True(resumed.Code == 0, resumed.Err);
            Assert.Contains("left by an interrupted run", resumed.Err);
            Assert.Empty(Directory.GetDirectories(temp.Path, "out.tmp-*"));
            Assert.False(Directory.Exists(work));
            AssertSameFiles(baseline, outDir);
        }
        finally
        {
            if (!child.HasExited) child.Kill();
        }
    }

    [Fact]
    public void A_second_eval_on_a_held_out_folder_is_refused_naming_the_holder()
    {
        using var temp = new TempDir();
        var outDir = temp.Sub("eval");
        using var child = StartStopped(Eval(_models, outDir), "layer:0:after", "layer 0");
        try
        {
            foreach (var resume in new[] { false, true })
            {
                var (code, _, err) = CliHarness.Run(resume ? [.. Eval(_models, outDir), "--resume"] : Eval(_models, outDir));
                Assert.True(code == CliRunner.UsageError, err);
                Assert.Equal($"offload: {Path.Combine(outDir, "journal")}: another offload run (pid {child.Id} on host {Environment.MachineName}) is using this work folder; wait for it to end or stop it",
                    OneOffloadLine(err));
            }
            child.Kill();
            Assert.True(child.WaitForExit(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            if (!child.HasExited) child.Kill();
        }
        // The holder is gone (kill -9): --resume goes ahead and finishes.
        var resumed = CliHarness.Run([.. Eval(_models, outDir), "--resume"]);
        Assert.True(resumed.Code == 0, resumed.Err);
        Assert.True(File.Exists(Path.Combine(outDir, LayerwiseEvalJob.ResultFolder, LayerwiseEvalJob.ResultFile)));
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Fact]
    public async Task Ctrl_c_inside_the_write_exits_130_and_removes_the_temporary_output_folder()
    {
        using var temp = new TempDir();
        var baseline = temp.Sub("baseline");
        Assert.Equal(0, CliHarness.Run(Rtn(_models, baseline)).Code);
        var outDir = temp.Sub("out");
        using var child = StartStopped(Rtn(_models, outDir), "write:layer:1", "reaching the write");
        try
        {
            Assert.Single(Directory.GetDirectories(temp.Path, "out.tmp-*"));
            // SIGINT stays pending while the process is stopped; SIGCONT delivers it in the middle of the write
            // (StartStopped waited until it is stopped, or SIGCONT could come first).
            Assert.Equal(0, Kill(child.Id, 2));
            Assert.Equal(0, Kill(child.Id, 18));
            var rest = child.StandardError.ReadToEndAsync();
            Assert.True(child.WaitForExit(TimeSpan.FromSeconds(30)), "offload did not end within 30 s of SIGINT");
            Assert.Equal(CliRunner.Interrupted, child.ExitCode);
            Assert.Equal("offload: interrupted", OneOffloadLine(await rest.WaitAsync(TimeSpan.FromSeconds(10))));
            Assert.Empty(Directory.GetDirectories(temp.Path, "out.tmp-*"));
        }
        finally
        {
            if (!child.HasExited) child.Kill();
        }
        // What is left is the resumable work folder (or, had the rename won the race, the complete output).
        if (!Directory.Exists(outDir))
        {
            var resumed = CliHarness.Run(Rtn(_models, outDir, "--resume"));
            Assert.True(resumed.Code == 0, resumed.Err);
        }
        Assert.False(Directory.Exists(outDir + ".offload-work"));
        AssertSameFiles(baseline, outDir);
    }

    /// <summary>Waits until process <paramref name="pid"/> is stopped (state T in /proc/PID/stat).</summary>
    /// <summary>
    /// Starts offload with <paramref name="args"/> as a child that stops itself (SIGSTOP) at kill-switch point
    /// <paramref name="stopAt"/>, and returns once it is stopped there (killed if it ends or fails to get there).
    /// </summary>
    private static Process StartStopped(IEnumerable<string> args, string stopAt, string what)
    {
        var psi = OffloadChild.StartInfo();
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment[JobKillSwitch.StopVariable] = stopAt;
        var child = Process.Start(psi)!;
        try
        {
            _ = child.StandardOutput.ReadToEndAsync(); // drained, so the child never blocks on a full pipe
            string? line;
            while ((line = child.StandardError.ReadLine()) is not null && !line.StartsWith("stopping at", StringComparison.Ordinal))
            {
            }
            Assert.True(line is not null, $"the child ended before {what}");
            WaitStopped(child.Id);
            return child;
        }
        catch
        {
            if (!child.HasExited) child.Kill();
            child.Dispose();
            throw;
        }
    }

    private static void WaitStopped(int pid)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            if (stat[(stat.LastIndexOf(')') + 2)..].StartsWith('T')) return;
            Thread.Sleep(10);
        }
        Assert.Fail($"process {pid} did not stop");
    }

    [Fact]
    public void A_failure_inside_the_write_exits_1_with_one_line_and_leaves_nothing()
    {
        using var temp = new TempDir();
        var outDir = temp.Sub("out");
        var (rc, _, err) = OffloadChild.Run(Rtn(_models, outDir), new Dictionary<string, string> { [JobKillSwitch.FailVariable] = "write:layer:1" });
        Assert.Equal(CliRunner.RunFailure, rc);
        Assert.Equal("offload: internal error: injected failure at write:layer:1 (OFFLOAD_TEST_FAIL_AT); continue with --resume, and report it if it happens again",
            OneOffloadLine(err));
        // An RTN run has nothing to resume before its write: no work folder, no output, no temporary folder.
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp.Path));
    }

    [Fact]
    public void The_lock_is_released_when_a_run_ends_so_the_next_run_on_the_same_out_goes_ahead()
    {
        using var temp = new TempDir();
        var outDir = temp.Sub("out");
        // A run refused after the work folder existed would leave it locked if the lock leaked: the resumed run proves it did not.
        Directory.CreateDirectory(outDir + ".offload-work");
        var first = CliHarness.Run(Rtn(_models, outDir));
        Assert.Equal(CliRunner.UsageError, first.Code);
        Assert.Contains("continue it with --resume, or delete it", OneOffloadLine(first.Err));
        Assert.Empty(Directory.EnumerateFileSystemEntries(outDir + ".offload-work")); // refused: left as it was, no lock file added
        var second = CliHarness.Run(Rtn(_models, outDir));
        Assert.Contains("continue it with --resume, or delete it", OneOffloadLine(second.Err));
        Directory.Delete(outDir + ".offload-work", recursive: true);
        Assert.Equal(0, CliHarness.Run(Rtn(_models, outDir)).Code);
        Assert.False(Directory.Exists(outDir + ".offload-work"));
    }

    // ---- class 8: checksummed work files on --resume ------------------------------------------------------------

    /// <summary>A change to a killed run's work folder (or its model) and what --resume then does.</summary>
    public sealed record Damage(string Name, Action<string, string> Apply, int Code, string Expected)
    {
        public override string ToString() => Name;
    }

    private static void FlipLastByte(string path)
    {
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0x5A;
        File.WriteAllBytes(path, bytes);
    }

    public static TheoryData<string> Damages => new(DamagesRows.Select(r => r.Name));

    private static readonly Damage[] DamagesRows =
    [
        new("nothing changed", (_, _) => { }, 0, "resuming"),
        new("a GPTQ result damaged", (w, _) => FlipLastByte(Path.Combine(w, "gptq", "layer-00000.safetensors")), 0,
            "layer-00000.safetensors: damaged (its SHA-256 is not the recorded one): the calibration is redone from layer 0"),
        new("a GPTQ result without its checksum", (w, _) => File.Delete(Path.Combine(w, "gptq", "layer-00001.safetensors.sha256")), 0,
            "layer-00001.safetensors: without its checksum (the run stopped while writing it): the calibration is redone from layer 0"),
        new("the rotated model damaged", (w, _) => FlipLastByte(Path.Combine(w, "rotated", "model.safetensors")), 0,
            "model.safetensors: damaged (its SHA-256 is not the recorded one): the rotation is redone"),
        new("the rotated model without checksums", (w, _) => File.Delete(Path.Combine(w, "rotated.sha256")), 0,
            "rotated: without its checksums (the run stopped while writing it): the rotation is redone"),
        new("the journal's last outputs damaged", (w, _) => FlipLastByte(Directory.GetFiles(Path.Combine(w, "calib", "journal"), "acts-*.safetensors").Single()), 0,
            "damaged (its SHA-256 is not the recorded one): the calibration is redone from layer 0"),
        new("the journal's manifest damaged", (w, _) => File.AppendAllText(Path.Combine(w, "calib", "journal", "manifest.json"), " "), 0,
            "manifest.json: damaged (its SHA-256 is not the recorded one): the calibration is redone from layer 0"),
        new("the journal's event database overwritten", (w, _) => File.WriteAllBytes(Path.Combine(w, "calib", "journal", "events.db"), Enumerable.Repeat((byte)'x', 8192).ToArray()), 0,
            "the calibration is redone from layer 0"),
        new("stale temporary files", (w, _) =>
            {
                File.WriteAllText(Path.Combine(w, ".job.txt.tmp"), "partial");
                File.WriteAllText(Path.Combine(w, "gptq", ".layer-00001.safetensors.abc.tmp"), "partial");
            }, 0, "rotation: done in an earlier run"),
        new("job file damaged", (w, _) => File.AppendAllText(Path.Combine(w, CompressJob.JobFile), "x"), 2,
            "job.txt: damaged (its SHA-256 is not the recorded one); delete "),
        new("model tensor bytes changed (same size)", (_, model) => FlipLastByte(Path.Combine(model, "model.safetensors")), 2,
            "the work folder belongs to another job (model, recipe, data or options differ); delete it or use another --out"),
    ];

    private static string[] Gptq(Models m, string model, string outDir, params string[] extra) =>
        ["compress", "--model", model, "--scheme", "W4A16", "--method", "gptq", "--rotations", "R1,R2", "--dataset", m.Dataset, "--samples", "4", "--seq-len", "16",
         "--batch", "2", "--device-memory", "64MiB", "--out", outDir, "--progress", "none", .. extra];

    [Theory]
    [MemberData(nameof(Damages))]
    public void Resume_checks_every_work_file_and_redoes_or_names_a_damaged_one(string name)
    {
        var row = DamagesRows.Single(r => r.Name == name);
        var (baseline, killedWork) = _models.Killed();
        using var temp = new TempDir();
        var model = CopyModel(_models.Model, temp.Sub("model"));
        var outDir = temp.Sub("out");
        var work = outDir + ".offload-work";
        CopyTree(killedWork, work);
        row.Apply(work, model);
        var before = Snapshot(work);

        var (code, _, err) = CliHarness.Run(Gptq(_models, model, outDir, "--resume"));
        Assert.True(code == row.Code, $"{row.Name}: exit {code}: {err}");
        if (code == 0)
        {
            Assert.Contains(row.Expected, err);
            AssertSameFiles(baseline, outDir);
            Assert.False(Directory.Exists(work));
            Assert.Empty(Directory.GetDirectories(temp.Path, "out.tmp-*"));
        }
        else
        {
            Assert.Contains(row.Expected, OneOffloadLine(err));
            // Refused before touching it: the work folder is as the killed run (and the damage) left it — but for the
            // lock file, which names whoever holds the lock last (its length follows the PID's digits).
            Assert.Equal(WithoutLock(before), WithoutLock(Snapshot(work)));
            Assert.False(Directory.Exists(outDir));
        }
    }

    // ---- class 11: one line, the right exit code, never a .NET type name --------------------------------------------

    public sealed record Failure(string Name, Exception Error, int Code, string Line)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<string> Failures => new(FailuresRows.Select(r => r.Name));

    private static readonly Failure[] FailuresRows =
    [
        new("disk full", new IOException("No space left on device : '/data/out.offload-work/gptq/layer-00003.safetensors'", 28), 1,
            "offload: no space left on /data/out.offload-work/gptq/layer-00003.safetensors: free space, then --resume"),
        new("disk full, no path", new IOException("disk full", 28), 1, "offload: no space left on the disk: free space, then --resume"),
        new("quota exceeded", new IOException("Disk quota exceeded : '/home/u/out'", 122), 1, "offload: no space left on /home/u/out: free space, then --resume"),
        new("disk full inside a layer", new LayerFailedException("layer 3", "save", new IOException("No space left on device : '/w/acts-0003.safetensors'", 28)), 1,
            "offload: layer 3, phase save: no space left on /w/acts-0003.safetensors: free space, then --resume"),
        new("read-only file system", new IOException("Read-only file system : '/mnt/ro/out'", 30), 1,
            "offload: /mnt/ro/out: read-only file system; choose an --out on a writable disk"),
        new("permission denied", new UnauthorizedAccessException("Access to the path '/srv/out' is denied."), 1,
            "offload: /srv/out: permission denied; fix the folder's permissions or choose another --out"),
        new("out of memory", new OutOfMemoryException(), 1,
            "offload: out of host memory; lower --batch, --prefetch-depth or --host-memory, or free memory, then --resume"),
        new("other I/O error", new IOException("Input/output error : '/dev/sdb'", 5), 1,
            "offload: input/output error: Input/output error : '/dev/sdb'; check the disk and the path, then --resume"),
        new("a bug", new InvalidOperationException("Sequence contains no elements"), 1,
            "offload: internal error: Sequence contains no elements; continue with --resume, and report it if it happens again"),
        new("a bug inside a layer", new LayerFailedException("layer 1", "calibrate", new NullReferenceException("Object reference not set")), 1,
            "offload: layer 1, phase calibrate: internal error: Object reference not set; continue with --resume, and report it if it happens again"),
        new("bad input", new OffloadException("--seq-len 0: must be ≥ 2"), 2, "offload: --seq-len 0: must be ≥ 2"),
        new("missing file", new FileNotFoundException("calib.txt: not found; pass --dataset with a file"), 2, "offload: calib.txt: not found; pass --dataset with a file"),
    ];

    [Theory]
    [MemberData(nameof(Failures))]
    public void A_failure_is_one_line_with_its_fix_and_exit_code_and_no_type_name(string name)
    {
        var row = FailuresRows.Single(r => r.Name == name);
        var (code, err) = CliHarness.Capture(() => CliRunner.Report(row.Error));
        Assert.Equal(row.Code, code);
        Assert.Equal(row.Line, OneOffloadLine(err));
        Assert.DoesNotContain("Exception", err);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /// <summary>The single "offload:" line on stderr (asserting there is exactly one, with no stack trace or type name).</summary>
    private static string OneOffloadLine(string err)
    {
        var line = Assert.Single(CliHarness.Lines(err), l => l.StartsWith("offload:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("Exception", err);
        return line;
    }

    /// <summary>Every path under <paramref name="dir"/> with its length (files) — what is on disk.</summary>
    private static string Snapshot(string dir) =>
        string.Join("\n", Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(p => File.Exists(p) ? $"{Path.GetRelativePath(dir, p)} {new FileInfo(p).Length}" : Path.GetRelativePath(dir, p) + "/"));

    private static string WithoutLock(string snapshot) =>
        string.Join("\n", snapshot.Split('\n').Where(l => !l.StartsWith(WorkFolderLock.FileName + " ", StringComparison.Ordinal)));

    private static void AssertSameFiles(string expected, string actual)
    {
        var names = Directory.GetFiles(expected).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(names, Directory.GetFiles(actual).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        foreach (var n in names)
            Assert.True(File.ReadAllBytes(Path.Combine(expected, n!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, n!))), $"{n} differs from the uninterrupted run");
    }
}
