using System.Globalization;
using System.Text;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit.Abstractions;

namespace Offload.Cluster.Tests;

/// <summary>The real stories260K model, its evaluation windows and the single-process result to compare with.</summary>
public sealed class StoriesJobFixture : IAsyncLifetime
{
    public const int SeqLen = 128;
    public const int Windows = 24;
    public const int Batch = 3;

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "offload-e2e-" + Guid.NewGuid().ToString("N")[..8]);

    public string ModelDir => Path.Combine(Root, "model");

    public int[] Tokens { get; private set; } = [];

    public byte[] Expected { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        var config = Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), ModelDir, DType.F32);
        var tokenizer = ModelLoader.LoadTokenizer(ModelDir, config);
        Tokens = EvalProtocol.FirstWindows(EvalProtocol.TokenStreamOfFile(SharedData.File("tinystories_valid_head.txt"), tokenizer), SeqLen, Windows);
        var single = Path.Combine(Root, "single");
        await LayerwiseEvalJob.RunAsync(Options(single), Tokens);
        Expected = await File.ReadAllBytesAsync(ResultFile(single));
    }

    public LayerwiseJobOptions Options(string outDir) => new()
    {
        ModelDir = ModelDir,
        SeqLen = SeqLen,
        BatchRows = Batch,
        DeviceMemoryBytes = 64L << 20,
        OutDir = outDir,
        JobDescription = "e2e eval",
    };

    public static string ResultFile(string outDir) => Path.Combine(outDir, LayerwiseEvalJob.ResultFolder, LayerwiseEvalJob.ResultFile);

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        return Task.CompletedTask;
    }
}

/// <summary>
/// Three `offload node` processes (Akka.NET cluster on loopback, journal on a private PostgreSQL) and a client run the
/// layer-wise evaluation of stories260K; the result must be byte-identical to the single-process run — undisturbed,
/// with a worker SIGKILLed mid-layer, with the node hosting the coordinator singleton SIGKILLed, with a worker frozen
/// (SIGSTOP) past the failure detector and resumed after it was downed, and with the client SIGKILLed and resumed.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterEndToEndTests(PostgresFixture postgres, StoriesJobFixture job, ITestOutputHelper output) : IClassFixture<StoriesJobFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    private async Task<string> WriteClusterFileAsync(string dir) => TestCluster.WriteThreeNodeFile(dir, "e2e", await postgres.NewDatabaseAsync());

    /// <summary>Starts node-1..node-3 one after another (node-1 is the oldest: it hosts the coordinator singleton first).</summary>
    internal static async Task<List<NodeProcess>> StartNodesAsync(string file, IReadOnlyDictionary<string, string>? environment = null)
    {
        var nodes = new List<NodeProcess>();
        for (var i = 1; i <= 3; i++)
        {
            var n = NodeProcess.Start(file, $"node-{i}", environment);
            nodes.Add(n);
            Assert.True(await n.WaitForLineAsync(l => l.Contains($"node {n.Id} is up"), Wait), $"{n.Id} did not join:\n{n.Output}");
        }
        return nodes;
    }

    /// <summary>Runs the client in this process; <paramref name="onLog"/> sees every line it logs.</summary>
    private async Task<(ClusterEvalReport Report, string Log)> DriveAsync(string file, string outDir, Action<string>? onLog = null)
    {
        var log = new LineWriter(onLog);
        var report = await ClusterJob.RunAsync(ClusterFile.Load(file), job.Options(outDir), job.Tokens, log).WaitAsync(TimeSpan.FromMinutes(4));
        output.WriteLine(log.Text);
        return (report, log.Text);
    }

    private static void Dispose(List<NodeProcess> nodes)
    {
        foreach (var n in nodes) n.Dispose();
    }

    [Fact]
    public async Task Three_nodes_give_the_single_process_bytes_with_the_layers_spread_over_the_workers()
    {
        var dir = Path.Combine(job.Root, "undisturbed");
        var file = await WriteClusterFileAsync(dir);
        var nodes = await StartNodesAsync(file);
        try
        {
            var (report, log) = await DriveAsync(file, Path.Combine(dir, "out"));
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(Path.Combine(dir, "out"))));
            Assert.Equal(5, report.Layers.Count);
            Assert.True(report.Layers.Select(p => p.NodeId).Distinct().Count() >= 2, log);
            Assert.Contains("coordinator on node-1", log);
            // The coordinator wrote the journal; no worker wrote into the job's folder (its state files are served, not written).
            Assert.True(File.Exists(Path.Combine(dir, "out", JobJournal.FolderName, ClusterJob.WindowsFile)));
        }
        finally
        {
            Dispose(nodes);
        }
    }

    [Fact]
    public async Task A_cluster_nobody_answers_for_is_reported_within_seconds_naming_the_file_and_leaves_no_job_folder()
    {
        var dir = Path.Combine(job.Root, "unreachable");
        var file = await WriteClusterFileAsync(dir); // three nodes on free ports, none started
        var outDir = Path.Combine(dir, "out");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<ClusterConfigurationException>(() => ClusterJob.RunAsync(ClusterFile.Load(file), job.Options(outDir), job.Tokens));
        watch.Stop();
        Assert.StartsWith(file + ":", ex.Message);
        Assert.Contains("start a seed node first", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.True(watch.Elapsed < ClusterFile.ClientJoinTimeout + TimeSpan.FromSeconds(10), $"reported after {watch.Elapsed}");
        Assert.False(Directory.Exists(outDir), "a job folder was created for a cluster that never answered");
    }

    [Fact]
    public async Task A_worker_sigkilled_mid_layer_has_its_layer_redone_on_a_survivor_and_the_result_is_byte_identical()
    {
        var dir = Path.Combine(job.Root, "worker-kill");
        var file = await WriteClusterFileAsync(dir);
        // Every node dies after computing layer 2 — but only in the first attempt: the attempt asked of a survivor
        // (":redelivered") runs through.
        var nodes = await StartNodesAsync(file, new Dictionary<string, string> { [JobKillSwitch.Variable] = "node-layer:2:computed" });
        try
        {
            var (report, _) = await DriveAsync(file, Path.Combine(dir, "out"));
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(Path.Combine(dir, "out"))));
            var killed = nodes.Where(n => n.HasExited).ToList();
            Assert.Single(killed);
            Assert.Equal(137, killed[0].ExitCode);
            Assert.Contains(killed[0].Lines, l => l.Contains("running layer 2"));
            var redone = nodes.Single(n => n.Lines.Any(l => l.Contains("running layer 2") && l.Contains("redelivered")));
            Assert.NotEqual(killed[0].Id, redone.Id);
            Assert.Equal(redone.Id, report.Layers.Single(p => p.Layer == 2).NodeId);
            Assert.Equal(5, report.Layers.Count);
            var failover = redone.SeenAt(l => l.Contains("running layer 2") && l.Contains("redelivered"))!.Value - killed[0].ExitedAt!.Value;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"failover: SIGKILL of {killed[0].Id} → layer 2 running again on {redone.Id}: {failover.TotalSeconds:F2} s"));
            Assert.True(failover < TimeSpan.FromSeconds(30), $"failover took {failover}");
        }
        finally
        {
            Dispose(nodes);
        }
    }

    [Fact]
    public async Task The_node_hosting_the_coordinator_sigkilled_mid_job_hands_the_singleton_over_and_the_journal_replays_to_the_same_bytes()
    {
        var dir = Path.Combine(job.Root, "coordinator-kill");
        var file = await WriteClusterFileAsync(dir);
        var nodes = await StartNodesAsync(file);
        try
        {
            NodeProcess? killed = null;
            var (report, log) = await DriveAsync(file, Path.Combine(dir, "out"), line =>
            {
                if (killed is null && line.StartsWith("layer 1: committed", StringComparison.Ordinal))
                {
                    killed = nodes[0]; // node-1, the oldest coordinator node, hosts the singleton
                    killed.Kill();
                }
            });
            Assert.NotNull(killed);
            Assert.Contains("coordinator on node-1", log);
            Assert.Contains("the coordinator moved to node-2", log);
            Assert.Contains(nodes[1].Lines, l => l.Contains("coordinator resumes job"));
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(Path.Combine(dir, "out"))));
            Assert.Equal(5, report.Layers.Count);
            // Layers 0 and 1 were committed before the kill and were not run again.
            foreach (var l in new[] { 0, 1 })
                Assert.Equal(1, nodes.Sum(n => n.Lines.Count(x => x.Contains($"running layer {l} "))));
        }
        finally
        {
            Dispose(nodes);
        }
    }

    [Fact]
    public async Task A_worker_frozen_past_the_failure_detector_is_downed_its_layer_runs_elsewhere_and_after_SIGCONT_it_hands_in_nothing()
    {
        var dir = Path.Combine(job.Root, "worker-stop");
        var file = await WriteClusterFileAsync(dir);
        // The node running the first attempt of layer 2 freezes itself (SIGSTOP) once it has pulled the layer's inputs.
        var nodes = await StartNodesAsync(file, new Dictionary<string, string> { [JobKillSwitch.StopVariable] = "node-layer:2:started" });
        try
        {
            var (report, log) = await DriveAsync(file, Path.Combine(dir, "out"));
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(Path.Combine(dir, "out"))));
            var frozen = nodes.Single(n => n.Lines.Any(l => l.StartsWith("stopping at node-layer:2:started", StringComparison.Ordinal)));
            Assert.NotEqual(frozen.Id, report.Layers.Single(p => p.Layer == 2).NodeId);
            Assert.False(frozen.HasExited);
            var linesBefore = frozen.Lines.Count();
            frozen.Continue();
            Assert.True(frozen.WaitForExit(TimeSpan.FromSeconds(60)), $"{frozen.Id} did not stop after SIGCONT:\n{frozen.Output}");
            Assert.Equal(1, frozen.ExitCode);
            var after = frozen.Lines.Skip(linesBefore).ToList();
            Assert.Contains(after, l => l.Contains("was downed"));
            Assert.DoesNotContain(after, l => l.Contains("layer 2 of") && l.Contains(" done in "));
            Assert.DoesNotContain(frozen.Lines, l => l.Contains("layer 2 of") && l.Contains(" done in "));
            output.WriteLine(frozen.Output);
        }
        finally
        {
            Dispose(nodes);
        }
    }

    [Fact]
    public async Task The_client_sigkilled_mid_job_follows_it_again_with_resume_and_gets_the_same_bytes()
    {
        var dir = Path.Combine(job.Root, "client-kill");
        var file = await WriteClusterFileAsync(dir);
        var nodes = await StartNodesAsync(file);
        try
        {
            var outDir = Path.Combine(dir, "out");
            var killed = await RunClientProcessAsync(file, outDir, resume: false, killAt: "client-layer:1:committed");
            Assert.True(killed.Rc == 137, $"expected SIGKILL, got {killed.Rc}: {killed.Err}");
            var resumed = await RunClientProcessAsync(file, outDir, resume: true, killAt: null);
            Assert.True(resumed.Rc == 0, resumed.Err);
            Assert.Contains("(resumed)", resumed.Err);
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(outDir)));
            // The job went on in the cluster: every layer ran once.
            for (var l = 0; l < 5; l++)
                Assert.Equal(1, nodes.Sum(n => n.Lines.Count(x => x.Contains($"running layer {l} "))));
        }
        finally
        {
            Dispose(nodes);
        }
    }

    private async Task<(int Rc, string Out, string Err)> RunClientProcessAsync(string file, string outDir, bool resume, string? killAt)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "offload.dll"), "eval", "--model", job.ModelDir, "--text", SharedData.File("tinystories_valid_head.txt"),
            "--seq-len", StoriesJobFixture.SeqLen.ToString(CultureInfo.InvariantCulture), "--windows", StoriesJobFixture.Windows.ToString(CultureInfo.InvariantCulture),
            "--batch", StoriesJobFixture.Batch.ToString(CultureInfo.InvariantCulture), "--device-memory", "64MiB", "--cluster", file, "--out", outDir,
        }) psi.ArgumentList.Add(a);
        if (resume) psi.ArgumentList.Add("--resume");
        if (killAt is not null) psi.Environment[JobKillSwitch.Variable] = killAt;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        var result = (p.ExitCode, await stdout, await stderr);
        output.WriteLine(result.Item3);
        return result;
    }

    /// <summary>A TextWriter that keeps lines and passes each to a callback.</summary>
    internal sealed class LineWriter(Action<string>? onLine) : TextWriter
    {
        private readonly StringBuilder _all = new();
        private readonly StringBuilder _line = new();

        public override Encoding Encoding => Encoding.UTF8;

        public string Text
        {
            get { lock (_all) return _all.ToString(); }
        }

        public override void Write(char value)
        {
            lock (_all)
            {
                _all.Append(value);
                if (value != '\n')
                {
                    _line.Append(value);
                    return;
                }
            }
            string line;
            lock (_all)
            {
                line = _line.ToString().TrimEnd('\r');
                _line.Clear();
            }
            onLine?.Invoke(line);
        }
    }
}
