using System.Diagnostics;
using System.Globalization;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit.Abstractions;

namespace Offload.Cluster.Tests;

/// <summary>
/// Issue 17, class 10 through the CLI: a cluster nothing listens for is refused within seconds, before any work, with one
/// line naming its seed addresses and the fix (eval and compress); and one client per job folder — a second
/// `eval --cluster` on the --out another client follows is refused naming that client, as without a cluster.
/// </summary>
public sealed class ClusterRefusalTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("eval")]
    [InlineData("compress")]
    public void A_cluster_nothing_listens_for_is_refused_within_seconds_naming_its_addresses_and_nothing_is_left(string command)
    {
        var root = Path.Combine(Path.GetTempPath(), "offload-crefuse-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var model = Path.Combine(root, "model");
            var config = Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), model, DType.F32);
            // Three nodes on ports free a moment ago, none started: every seed refuses the connection.
            var file = TestCluster.WriteThreeNodeFile(Path.Combine(root, "cluster"), "refused", "Host=127.0.0.1;Port=1;Database=none");
            var ports = File.ReadAllLines(file).Where(l => l.Contains("port:", StringComparison.Ordinal))
                .Select(l => l.Split("port:")[1].Split(',')[0].Trim()).ToList();
            Assert.Equal(3, ports.Count);
            var outDir = Path.Combine(root, "out");
            string[] args = command == "eval"
                ? ["eval", "--model", model, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "64", "--windows", "4", "--batch", "2",
                   "--device-memory", "64MiB", "--cluster", file, "--out", outDir]
                : ["compress", "--model", model, "--recipe", WriteRecipe(root), "--dataset", WriteIds(root, config.VocabSize), "--samples", "4",
                   "--seq-len", "16", "--batch", "2", "--device-memory", "64MiB", "--cluster", file, "--out", outDir, "--progress", "none"];
            var watch = Stopwatch.StartNew();
            var (rc, _, err) = RunCli(args);
            watch.Stop();
            output.WriteLine($"{command}: exit {rc} after {watch.Elapsed.TotalSeconds:F1} s: {err}");
            Assert.True(rc == 2, $"exit {rc}: {err}");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"reported after {watch.Elapsed}");
            var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), l => l.StartsWith("offload:", StringComparison.Ordinal));
            Assert.StartsWith($"offload: {file}: no seed node answers at ", line);
            foreach (var port in ports) Assert.Contains($"127.0.0.1:{port} (connection refused)", line);
            Assert.Contains("start a seed node first (offload node --cluster", line);
            Assert.DoesNotContain("Exception", err);
            Assert.DoesNotContain("   at ", err);
            Assert.False(Directory.Exists(outDir), "an output folder was created");
            Assert.False(Directory.Exists(outDir + ".offload-work"), "a work folder was created");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    // GPTQ W4 per channel (stories260K's widths, 64 and 172, take no group of 128).
    private static string WriteRecipe(string dir)
    {
        var path = Path.Combine(dir, "recipe.yaml");
        File.WriteAllText(path, """
            quant_stage:
              quant_modifiers:
                GPTQModifier:
                  ignore: [lm_head]
                  config_groups:
                    group_0:
                      targets: [Linear]
                      weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
            """);
        return path;
    }

    private static string WriteIds(string dir, int vocab)
    {
        var path = Path.Combine(dir, "calib.jsonl");
        var rng = new Random(3);
        File.WriteAllLines(path, Enumerable.Range(0, 4).Select(_ =>
            "{\"input_ids\": [" + string.Join(", ", Enumerable.Range(0, 16).Select(_ => rng.Next(vocab).ToString(CultureInfo.InvariantCulture))) + "]}"));
        return path;
    }

    /// <summary>Runs `offload ARGS` as a child process (three minutes at most).</summary>
    internal static (int Rc, string Out, string Err) RunCli(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        using var p = Start(args, environment);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("offload did not end within 3 minutes");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    internal static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "offload.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }
}

/// <summary>One client per cluster job folder: the OS lock of OUT/journal, as `offload eval --out` without a cluster.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterEvalLockTests(PostgresFixture postgres, StoriesJobFixture job, ITestOutputHelper output) : IClassFixture<StoriesJobFixture>
{
    private string[] Eval(string file, string outDir, bool resume) =>
    [
        "eval", "--model", job.ModelDir, "--text", SharedData.File("tinystories_valid_head.txt"),
        "--seq-len", StoriesJobFixture.SeqLen.ToString(CultureInfo.InvariantCulture), "--windows", StoriesJobFixture.Windows.ToString(CultureInfo.InvariantCulture),
        "--batch", StoriesJobFixture.Batch.ToString(CultureInfo.InvariantCulture), "--device-memory", "64MiB", "--cluster", file, "--out", outDir, .. (resume ? new[] { "--resume" } : []),
    ];

    [Fact]
    public async Task A_second_eval_client_on_the_same_out_is_refused_naming_the_first_and_resume_after_it_is_killed_gives_the_same_bytes()
    {
        var dir = Path.Combine(job.Root, "eval-lock");
        var file = TestCluster.WriteThreeNodeFile(dir, "lock", await postgres.NewDatabaseAsync());
        var nodes = await ClusterEndToEndTests.StartNodesAsync(file);
        Process? first = null;
        try
        {
            var outDir = Path.Combine(dir, "out");
            // The first client stops itself (SIGSTOP) once layer 0 is committed: it holds the job folder's lock.
            first = ClusterRefusalTests.Start(Eval(file, outDir, resume: false), new Dictionary<string, string> { [JobKillSwitch.StopVariable] = "client-layer:0:committed" });
            _ = first.StandardOutput.ReadToEndAsync();
            string? l;
            while ((l = first.StandardError.ReadLine()) is not null && !l.StartsWith("stopping at", StringComparison.Ordinal)) output.WriteLine(l);
            Assert.True(l is not null, "the first client ended before layer 0 was committed");
            foreach (var resume in new[] { false, true })
            {
                var (rc, _, err) = ClusterRefusalTests.RunCli(Eval(file, outDir, resume));
                Assert.True(rc == 2, $"--resume {resume}: exit {rc}: {err}");
                var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), x => x.StartsWith("offload:", StringComparison.Ordinal));
                Assert.Equal($"offload: {Path.Combine(outDir, JobJournal.FolderName)}: another offload run (pid {first.Id} on host {Environment.MachineName}) is using this work folder; wait for it to end or stop it", line);
                Assert.DoesNotContain("   at ", err);
            }
            // kill -9 drops the lock; the job went on in the cluster, and --resume follows it to the single-process bytes.
            first.Kill();
            first.WaitForExit();
            var resumed = ClusterRefusalTests.RunCli(Eval(file, outDir, resume: true));
            Assert.True(resumed.Rc == 0, resumed.Err);
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(outDir)));
        }
        finally
        {
            if (first is { HasExited: false }) first.Kill();
            first?.Dispose();
            foreach (var n in nodes) n.Dispose();
        }
    }
}
