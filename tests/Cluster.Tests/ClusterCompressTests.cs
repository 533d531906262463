using System.Globalization;
using System.Text;
using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Cluster.Tests;

/// <summary>
/// `offload compress` with its calibration on three `offload node` processes (SpinQuant R1+R2+R4 fused by the driver,
/// GPTQ W4A4 per layer on whichever node owns the layer, R4 online inside the nodes' forward): the checkpoint must be
/// byte-identical to the single-process run — undisturbed, and with a worker SIGKILLed after computing a layer.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterCompressTests(PostgresFixture postgres, Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private const string RecipeYaml = """
        quant_stage:
          quant_modifiers:
            SpinQuantModifier: {rotations: [R1, R2, R4], transform_type: hadamard, offload_kron_hadamard: true}
            GPTQModifier:
              ignore: [lm_head]
              config_groups:
                group_0:
                  targets: [Linear]
                  weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
                  input_activations: {num_bits: 4, type: int, symmetric: true, strategy: token, dynamic: true}
        """;

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "offload-ccompress-" + Guid.NewGuid().ToString("N")[..8]);

    private (string Model, int[] Calibration) Prepare()
    {
        var model = Path.Combine(_root, "model");
        var config = Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), model, DType.F32);
        var stream = EvalProtocol.TokenStreamOfFile(SharedData.File("tinystories_valid_head.txt"), ModelLoader.LoadTokenizer(model, config));
        return (model, EvalProtocol.LastWindows(stream, 64, 12));
    }

    private static CompressOptions Options(string model, string outDir, int[] calibration, ClusterFile? cluster) => new()
    {
        ModelDir = model,
        OutDir = outDir,
        Recipe = CompressionRecipe.From(Recipe.Parse(RecipeYaml), RecipeYaml),
        Calibration = calibration,
        SeqLen = 64,
        BatchRows = 3,
        DeviceMemoryBytes = 64L << 20,
        Cluster = cluster,
    };

    private async Task<string> WriteClusterFileAsync(string dir) => TestCluster.WriteThreeNodeFile(dir, "cc", await postgres.NewDatabaseAsync());

    /// <summary>The largest value of metric <paramref name="name"/> over the metric snapshots of a --metrics-out file (0 when absent).</summary>
    private static double LastValue(string file, string name)
    {
        if (!File.Exists(file)) return 0;
        var best = 0.0;
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (!line.Contains(name, StringComparison.Ordinal)) continue;
            System.Text.Json.JsonDocument doc;
            try { doc = System.Text.Json.JsonDocument.Parse(line); }
            catch (System.Text.Json.JsonException) { continue; }
            using (doc)
            {
                if (!doc.RootElement.TryGetProperty("points", out var points)) continue;
                foreach (var p in points.EnumerateArray())
                    if (p.GetProperty("name").GetString() == name && p.TryGetProperty("value", out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number)
                        best = Math.Max(best, v.GetDouble());
            }
        }
        return best;
    }

    private static Dictionary<string, byte[]> Files(string dir) => Directory.GetFiles(dir).ToDictionary(Path.GetFileName, File.ReadAllBytes)!;

    [Theory]
    [InlineData(null)]
    [InlineData("node-layer:2:computed")]
    public async Task A_compress_on_three_nodes_writes_the_single_process_checkpoint_bytes(string? killAt)
    {
        var (model, calibration) = Prepare();
        CompressJob.Run(Options(model, Path.Combine(_root, "single"), calibration, null));
        var expected = Files(Path.Combine(_root, "single"));

        var file = await WriteClusterFileAsync(Path.Combine(_root, "cluster"));
        var env = killAt is null ? null : new Dictionary<string, string> { [JobKillSwitch.Variable] = killAt };
        var metrics = Enumerable.Range(1, 3).ToDictionary(i => $"node-{i}", i => Path.Combine(_root, $"node-{i}.metrics.jsonl"));
        var nodes = new List<NodeProcess>();
        try
        {
            for (var i = 1; i <= 3; i++)
            {
                var n = NodeProcess.Start(file, $"node-{i}", env, ["--metrics-out", metrics[$"node-{i}"]]);
                nodes.Add(n);
                Assert.True(await n.WaitForLineAsync(l => l.Contains($"node {n.Id} is up"), Wait), $"{n.Id} did not join:\n{n.Output}");
            }
            var outDir = Path.Combine(_root, "clustered");
            await CompressJob.RunAsync(Options(model, outDir, calibration, ClusterFile.Load(file))).WaitAsync(TimeSpan.FromMinutes(4));
            var actual = Files(outDir);
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (name, bytes) in expected) Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{name} differs from the single-process checkpoint");
            if (killAt is not null)
            {
                var killed = nodes.Where(n => n.HasExited).ToList();
                Assert.Single(killed);
                Assert.Equal(137, killed[0].ExitCode);
                // Telemetry shows the layer redone on another node.
                await Task.Delay(TimeSpan.FromSeconds(1.5)); // one more periodic snapshot on the survivors
                var survivors = nodes.Where(n => !n.HasExited).Select(n => metrics[n.Id]).ToList();
                Assert.True(survivors.Any(f => LastValue(f, "offload.cluster.layers.redone") >= 1), "no survivor reported redone layer work");
            }
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
            foreach (var n in nodes) output.WriteLine($"--- {n.Id}:\n{n.Output}");
        }
    }


    [Fact]
    public async Task The_same_recipe_submitted_twice_at_once_runs_as_two_jobs_with_their_own_ids_and_both_give_the_single_process_bytes()
    {
        var (model, _) = Prepare();
        var recipe = Path.Combine(_root, "recipe.yaml");
        File.WriteAllText(recipe, RecipeYaml);
        string[] Compress(string outDir, string? cluster) =>
        [
            "compress", "--model", model, "--recipe", recipe, "--dataset", SharedData.File("tinystories_valid_head.txt"), "--samples", "12", "--seq-len", "64",
            "--batch", "3", "--device-memory", "64MiB", "--out", outDir, "--progress", "none", .. (cluster is null ? Array.Empty<string>() : ["--cluster", cluster]),
        ];
        var single = ClusterRefusalTests.RunCli(Compress(Path.Combine(_root, "single"), null));
        Assert.True(single.Rc == 0, single.Err);
        var expected = Files(Path.Combine(_root, "single"));
        var file = await WriteClusterFileAsync(Path.Combine(_root, "cluster"));
        var nodes = await ClusterEndToEndTests.StartNodesAsync(file);
        try
        {
            // One client alone, then two clients (two `offload compress` processes) submitting the same recipe, model
            // and data to two other --out folders at once.
            var first = ClusterRefusalTests.RunCli(Compress(Path.Combine(_root, "first"), file));
            Assert.True(first.Rc == 0, first.Err);
            AssertSameCheckpoint(expected, Path.Combine(_root, "first"));
            var outs = new[] { Path.Combine(_root, "a"), Path.Combine(_root, "b") };
            var runs = await Task.WhenAll(outs.Select(o => Task.Run(() => ClusterRefusalTests.RunCli(Compress(o, file)))));
            foreach (var r in runs) Assert.True(r.Rc == 0, r.Err);
            var ids = runs.Select(r => JobId(r.Err)).Append(JobId(first.Err)).ToArray();
            Assert.Equal(3, ids.Distinct().Count());
            foreach (var o in outs) AssertSameCheckpoint(expected, o);

            // Once it finished, the same job again (its output removed first) runs again and gives the same bytes.
            Directory.Delete(outs[0], recursive: true);
            var again = ClusterRefusalTests.RunCli(Compress(outs[0], file));
            Assert.True(again.Rc == 0, again.Err);
            AssertSameCheckpoint(expected, outs[0]);
            // The id follows from the job and its --out (so that --resume finds it); the registry ran it again (a new
            // incarnation), it did not just answer with the earlier run.
            Assert.Equal(ids[0], JobId(again.Err));
            Assert.Equal(2, nodes.Sum(n => n.Lines.Count(x => x.Contains($"job {ids[0]} finished", StringComparison.Ordinal))));
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
            foreach (var n in nodes) output.WriteLine($"--- {n.Id}:\n{n.Output}");
        }
    }

    /// <summary>The job id a client's log names ("job job-… on cluster '…'").</summary>
    private static string JobId(string log)
    {
        var line = log.Split('\n').First(l => l.StartsWith("job job-", StringComparison.Ordinal) && l.Contains(" on cluster ", StringComparison.Ordinal));
        return line.Split(' ')[1];
    }

    private void AssertSameCheckpoint(Dictionary<string, byte[]> expected, string outDir)
    {
        var actual = Files(outDir);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, bytes) in expected) Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{outDir}: {name} differs from the single-process checkpoint");
    }

    [Fact]
    public async Task The_coordinator_process_sigkilled_mid_compress_is_replaced_and_the_checkpoint_is_byte_identical()
    {
        var (model, calibration) = Prepare();
        CompressJob.Run(Options(model, Path.Combine(_root, "single"), calibration, null));
        var expected = Files(Path.Combine(_root, "single"));
        var file = await WriteClusterFileAsync(Path.Combine(_root, "cluster"));
        var nodes = await ClusterEndToEndTests.StartNodesAsync(file);
        try
        {
            var coordinator = nodes[0]; // the oldest coordinator node hosts the singleton
            var killed = false;
            var log = new ClusterEndToEndTests.LineWriter(line =>
            {
                if (!killed && line.StartsWith("layer 1: committed", StringComparison.Ordinal))
                {
                    killed = true;
                    coordinator.Kill();
                }
            });
            var outDir = Path.Combine(_root, "clustered");
            await CompressJob.RunAsync(Options(model, outDir, calibration, ClusterFile.Load(file)), log).WaitAsync(TimeSpan.FromMinutes(4));
            Assert.True(killed, "the coordinator was never killed");
            AssertSameCheckpoint(expected, outDir);
            Assert.Contains("the coordinator moved to node-2", log.Text);
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
            foreach (var n in nodes) output.WriteLine($"--- {n.Id}:\n{n.Output}");
        }
    }

    [Fact]
    public async Task A_worker_frozen_mid_compress_is_downed_its_layer_redone_and_the_checkpoint_is_byte_identical()
    {
        var (model, calibration) = Prepare();
        CompressJob.Run(Options(model, Path.Combine(_root, "single"), calibration, null));
        var expected = Files(Path.Combine(_root, "single"));
        var file = await WriteClusterFileAsync(Path.Combine(_root, "cluster"));
        // The node running the first attempt of layer 2 freezes itself (SIGSTOP) once it has the layer's inputs.
        var nodes = await ClusterEndToEndTests.StartNodesAsync(file, new Dictionary<string, string> { [JobKillSwitch.StopVariable] = "node-layer:2:started" });
        try
        {
            var outDir = Path.Combine(_root, "clustered");
            await CompressJob.RunAsync(Options(model, outDir, calibration, ClusterFile.Load(file))).WaitAsync(TimeSpan.FromMinutes(4));
            AssertSameCheckpoint(expected, outDir);
            var frozen = nodes.Single(n => n.Lines.Any(l => l.StartsWith("stopping at node-layer:2:started", StringComparison.Ordinal)));
            var before = frozen.Lines.Count();
            frozen.Continue();
            Assert.True(frozen.WaitForExit(TimeSpan.FromSeconds(60)), $"{frozen.Id} did not stop after SIGCONT:\n{frozen.Output}");
            Assert.Equal(1, frozen.ExitCode);
            Assert.Contains(frozen.Lines.Skip(before), l => l.Contains("was downed"));
            Assert.DoesNotContain(frozen.Lines, l => l.Contains("layer 2 of") && l.Contains(" done in "));
            // After the run the checkpoint is still the single-process one (the frozen node wrote nothing when it woke up).
            AssertSameCheckpoint(expected, outDir);
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
            foreach (var n in nodes) output.WriteLine($"--- {n.Id}:\n{n.Output}");
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
