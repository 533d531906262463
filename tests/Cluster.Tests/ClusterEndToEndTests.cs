using System.Globalization;
using System.Text;
using Google.Protobuf;
using Offload.Actors.Cluster;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Model.Config;
using Offload.Protocol;
using Offload.Protocol.Cluster;
using Offload.Tests.Shared;
using RabbitMQ.Client;

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
/// Three `offload node` processes and an in-process driver run the layer-wise evaluation of stories260K; the result
/// must be byte-identical to the single-process run — undisturbed, with a worker SIGKILLed mid-layer, with the
/// coordinator's process SIGKILLed, and with the broker restarted mid-run.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ClusterEndToEndTests(BrokerFixture fixture, StoriesJobFixture job) : IClassFixture<StoriesJobFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    private static string WriteClusterFile(Coordinator.Cluster.LocalBroker broker, string dir) => TestCluster.WriteThreeNodeFile(broker, dir, "e2e");

    private static async Task<List<NodeProcess>> StartNodesAsync(string file, IReadOnlyDictionary<string, string>? environment = null)
    {
        var nodes = Enumerable.Range(1, 3).Select(i => NodeProcess.Start(file, $"node-{i}", environment)).ToList();
        foreach (var n in nodes)
            Assert.True(await n.WaitForLineAsync(l => l.Contains($"node {n.Id} is up"), Wait), $"{n.Id} did not join:\n{n.Output}");
        return nodes;
    }

    /// <summary>Runs the driver in this process; <paramref name="onLog"/> sees every line it logs.</summary>
    private async Task<(ClusterEvalReport Report, string Log)> DriveAsync(string file, string outDir, Action<string>? onLog = null)
    {
        var log = new LineWriter(onLog);
        var report = await ClusterEvalJob.RunAsync(ClusterFile.Load(file), job.Options(outDir), job.Tokens, log).WaitAsync(TimeSpan.FromMinutes(4));
        return (report, log.Text);
    }

    [Fact]
    public async Task A_worker_sigkilled_mid_layer_has_its_layer_redone_elsewhere_and_the_result_is_byte_identical()
    {
        var dir = Path.Combine(job.Root, "worker-kill");
        var file = WriteClusterFile(fixture.Broker, dir);
        // Every node dies after computing layer 2 — but only on the first delivery: the node the message is
        // redelivered to (":redelivered") runs through.
        var nodes = await StartNodesAsync(file, new Dictionary<string, string> { [JobKillSwitch.Variable] = "node-layer:2:computed" });
        try
        {
            var (report, log) = await DriveAsync(file, Path.Combine(dir, "out"));
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(Path.Combine(dir, "out"))));
            var killed = nodes.Where(n => n.HasExited).ToList();
            Assert.Single(killed);
            Assert.Equal(137, killed[0].ExitCode);
            Assert.Contains(killed[0].Lines, l => l.Contains("running layer 2"));
            var redone = nodes.Single(n => n.Lines.Any(l => l.Contains("running layer 2") && l.Contains("redelivered")));
            Assert.NotEqual(killed[0].Id, redone.Id);
            Assert.Equal(redone.Id, report.Layers.Single(p => p.Layer == 2).NodeId);
            Assert.Equal(5, report.Layers.Count);
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
        }
    }

    [Fact]
    public async Task The_coordinator_process_sigkilled_mid_job_is_replaced_from_the_journal_and_the_result_is_byte_identical()
    {
        var dir = Path.Combine(job.Root, "coordinator-kill");
        var file = WriteClusterFile(fixture.Broker, dir);
        var nodes = await StartNodesAsync(file);
        try
        {
            await using var client = await ClusterClient.ConnectAsync(ClusterFile.Load(file).Settings);
            var before = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            var coordinator = nodes.Single(n => n.Id == before.CoordinatorNode);
            var killedAt = -1;
            var (report, _) = await DriveAsync(file, Path.Combine(dir, "out"), line =>
            {
                if (killedAt < 0 && line.StartsWith("layer 1:", StringComparison.Ordinal))
                {
                    killedAt = 1;
                    coordinator.Kill();
                }
            });
            Assert.Equal(1, killedAt);
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(Path.Combine(dir, "out"))));
            var after = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            Assert.NotEqual(before.CoordinatorNode, after.CoordinatorNode);
            Assert.True(after.CoordinatorEpoch > before.CoordinatorEpoch);
            var successor = nodes.Single(n => n.Id == after.CoordinatorNode);
            Assert.Contains(successor.Lines, l => l.Contains("became the coordinator") && l.Contains("after replaying"));
            Assert.Contains(report.Layers, p => p.Layer >= 2 && p.NodeId != coordinator.Id);
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
        }
    }

    [Fact]
    public async Task A_broker_restart_mid_job_and_100_bad_messages_in_the_shard_queues_leave_the_result_byte_identical()
    {
        await using var broker = await Coordinator.Cluster.LocalBroker.StartNewAsync();
        var dir = Path.Combine(job.Root, "broker-restart");
        var file = WriteClusterFile(broker, dir);
        var settings = ClusterFile.Load(file).Settings;
        var nodes = await StartNodesAsync(file);
        try
        {
            // 100 bad messages spread over the layer shard queues before the job: garbage, unknown types, misaddressed.
            await using (var client = await ClusterClient.ConnectAsync(settings))
            {
                for (var s = 0; s < settings.ShardCount; s++)
                {
                    var shard = s;
                    await client.Broker.DeclareAsync(ch => client.Broker.Topology.DeclareShardAsync(ch, "layer", shard));
                }
                for (var i = 0; i < 100; i++)
                {
                    var envelope = EnvelopeCodec.WrapForEntity(new Heartbeat { NodeId = "x" }, "layer", $"bogus-{i}", settings.ShardCount, "test", messageId: $"bad-{i:D3}");
                    byte[] body = (i % 3) switch
                    {
                        0 => Encoding.UTF8.GetBytes($"not protobuf {i} \u00ff\u00fe"),
                        1 => new ClusterEnvelope(envelope) { Type = "offload.cluster.Bogus" }.ToByteArray(),
                        _ => new ClusterEnvelope(envelope) { ShardId = (envelope.ShardId + 1) % settings.ShardCount }.ToByteArray(),
                    };
                    await client.Broker.PublishAsync("", client.Broker.Topology.ShardQueue("layer", i % 3 == 2 ? (envelope.ShardId + 1) % settings.ShardCount : envelope.ShardId), body,
                        new BasicProperties { MessageId = $"bad-{i:D3}" });
                }
                // Every shard gets a home, so every queue is consumed (shards are otherwise allocated on first use).
                for (var s = 0; s < settings.ShardCount; s++) await client.EnsureShardAsync("layer", s);
            }
            Task? restart = null;
            var (report, _) = await DriveAsync(file, Path.Combine(dir, "out"), line =>
            {
                if (restart is null && line.StartsWith("layer 1:", StringComparison.Ordinal))
                {
                    restart = Task.Run(async () =>
                    {
                        await broker.StopAsync();
                        await broker.StartAsync();
                    });
                }
            });
            Assert.NotNull(restart);
            await restart!;
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(Path.Combine(dir, "out"))));
            Assert.Equal(5, report.Layers.Count);
            Assert.All(nodes, n => Assert.False(n.HasExited, $"{n.Id} exited:\n{n.Output}"));

            // Each bad message was dead-lettered, with its reason.
            var deadLetters = $"{settings.ClusterName}.dead-letters";
            Assert.True(await TestCluster.WaitUntilAsync(() => TestCluster.CountAsync(broker, deadLetters).Result >= 100, Wait));
            var dead = await TestCluster.DrainAsync(broker, deadLetters);
            var bad = dead.Where(d => d.BasicProperties.MessageId?.StartsWith("bad-", StringComparison.Ordinal) == true).ToList();
            Assert.Equal(Enumerable.Range(0, 100).Select(i => $"bad-{i:D3}"), bad.Select(d => d.BasicProperties.MessageId!).Distinct().Order());
            foreach (var d in bad)
            {
                var i = int.Parse(d.BasicProperties.MessageId!["bad-".Length..], CultureInfo.InvariantCulture);
                var reason = TestCluster.Header(d.BasicProperties, ClusterTopology.ReasonHeader)!;
                Assert.Contains((i % 3) switch { 0 => "not a ClusterEnvelope", 1 => "unknown message type", _ => "misaddressed" }, reason);
            }
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
        }
    }

    [Fact]
    public async Task A_driver_sigkilled_mid_layer_resumes_from_its_journal_on_the_same_cluster_with_the_same_result()
    {
        var dir = Path.Combine(job.Root, "driver-kill");
        var file = WriteClusterFile(fixture.Broker, dir);
        var nodes = await StartNodesAsync(file);
        try
        {
            var outDir = Path.Combine(dir, "out");
            var killed = await RunDriverProcessAsync(file, outDir, resume: false, killAt: "cluster-layer:2:before-commit");
            Assert.True(killed.Rc == 137, $"expected SIGKILL, got {killed.Rc}: {killed.Err}");
            Assert.False(File.Exists(StoriesJobFixture.ResultFile(outDir)));
            var resumed = await RunDriverProcessAsync(file, outDir, resume: true, killAt: null);
            Assert.True(resumed.Rc == 0, resumed.Err);
            Assert.Contains("the journal 2", resumed.Err); // layers 0..1 were committed; layer 2 had run but was not committed
            Assert.DoesNotContain("layer 0:", resumed.Err);
            Assert.Equal(job.Expected, await File.ReadAllBytesAsync(StoriesJobFixture.ResultFile(outDir)));
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
        }
    }

    private async Task<(int Rc, string Out, string Err)> RunDriverProcessAsync(string file, string outDir, bool resume, string? killAt)
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
        return (p.ExitCode, await stdout, await stderr);
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
