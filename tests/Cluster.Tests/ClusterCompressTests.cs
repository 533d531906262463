using System.Globalization;
using System.Text;
using Google.Protobuf;
using Offload.Actors.Cluster;
using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Job;
using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Protocol;
using Offload.Protocol.Cluster;
using Offload.Tests.Shared;
using RabbitMQ.Client;
using Xunit;

namespace Offload.Cluster.Tests;

/// <summary>
/// `offload compress` with its calibration on three `offload node` processes (SpinQuant R1+R2+R4 fused by the driver,
/// GPTQ W4A4 per layer on whichever node owns the layer, R4 online inside the nodes' forward): the checkpoint must be
/// byte-identical to the single-process run — undisturbed, and with a worker SIGKILLed after computing a layer.
/// </summary>
[Collection(BrokerCollection.Name)]
public sealed class ClusterCompressTests(BrokerFixture fixture) : IDisposable
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

    private string WriteClusterFile(string dir) => WriteClusterFile(fixture.Broker, dir);

    private static string WriteClusterFile(Coordinator.Cluster.LocalBroker broker, string dir) => TestCluster.WriteThreeNodeFile(broker, dir, "cc");

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

        var file = WriteClusterFile(Path.Combine(_root, "cluster"));
        var env = killAt is null ? null : new Dictionary<string, string> { [JobKillSwitch.Variable] = killAt };
        var metrics = Enumerable.Range(1, 3).ToDictionary(i => $"node-{i}", i => Path.Combine(_root, $"node-{i}.metrics.jsonl"));
        var nodes = Enumerable.Range(1, 3).Select(i => NodeProcess.Start(file, $"node-{i}", env, ["--metrics-out", metrics[$"node-{i}"]])).ToList();
        try
        {
            foreach (var n in nodes)
                Assert.True(await n.WaitForLineAsync(l => l.Contains($"node {n.Id} is up"), Wait), $"{n.Id} did not join:\n{n.Output}");
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
                // Telemetry shows the reallocation of the dead node's shards and the layer redone on another node.
                await Task.Delay(TimeSpan.FromSeconds(1.5)); // one more periodic snapshot on the survivors
                var survivors = nodes.Where(n => !n.HasExited).Select(n => metrics[n.Id]).ToList();
                Assert.True(survivors.Any(f => LastValue(f, "offload.cluster.shards.reallocated") >= 1), "no survivor reported a shard reallocation");
                Assert.True(survivors.Any(f => LastValue(f, "offload.cluster.layers.redone") >= 1), "no survivor reported redone layer work");
            }
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
        }
    }

    private static async Task<List<NodeProcess>> StartNodesAsync(string file)
    {
        var nodes = Enumerable.Range(1, 3).Select(i => NodeProcess.Start(file, $"node-{i}")).ToList();
        foreach (var n in nodes)
            Assert.True(await n.WaitForLineAsync(l => l.Contains($"node {n.Id} is up"), Wait), $"{n.Id} did not join:\n{n.Output}");
        return nodes;
    }

    private void AssertSameCheckpoint(Dictionary<string, byte[]> expected, string outDir)
    {
        var actual = Files(outDir);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, bytes) in expected) Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{name} differs from the single-process checkpoint");
    }

    [Fact]
    public async Task The_coordinator_process_sigkilled_mid_compress_is_replaced_and_the_checkpoint_is_byte_identical()
    {
        var (model, calibration) = Prepare();
        CompressJob.Run(Options(model, Path.Combine(_root, "single"), calibration, null));
        var expected = Files(Path.Combine(_root, "single"));
        var file = WriteClusterFile(Path.Combine(_root, "cluster"));
        var nodes = await StartNodesAsync(file);
        try
        {
            await using var client = await ClusterClient.ConnectAsync(ClusterFile.Load(file).Settings);
            var before = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            var coordinator = nodes.Single(n => n.Id == before.CoordinatorNode);
            var killed = false;
            var log = new ClusterEndToEndTests.LineWriter(line =>
            {
                if (!killed && line.StartsWith("layer 1:", StringComparison.Ordinal))
                {
                    killed = true;
                    coordinator.Kill();
                }
            });
            var outDir = Path.Combine(_root, "clustered");
            await CompressJob.RunAsync(Options(model, outDir, calibration, ClusterFile.Load(file)), log).WaitAsync(TimeSpan.FromMinutes(4));
            Assert.True(killed, "the coordinator was never killed");
            AssertSameCheckpoint(expected, outDir);
            var after = await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), Wait);
            Assert.NotEqual(before.CoordinatorNode, after.CoordinatorNode);
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
        }
    }

    [Fact]
    public async Task A_broker_restart_mid_compress_and_100_bad_messages_leave_the_checkpoint_byte_identical()
    {
        var (model, calibration) = Prepare();
        CompressJob.Run(Options(model, Path.Combine(_root, "single"), calibration, null));
        var expected = Files(Path.Combine(_root, "single"));
        await using var broker = await Coordinator.Cluster.LocalBroker.StartNewAsync();
        var file = WriteClusterFile(broker, Path.Combine(_root, "cluster"));
        var settings = ClusterFile.Load(file).Settings;
        var nodes = await StartNodesAsync(file);
        try
        {
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
                    byte[] body = i % 2 == 0
                        ? Encoding.UTF8.GetBytes($"not protobuf {i}")
                        : new ClusterEnvelope(envelope) { Type = "offload.cluster.Bogus" }.ToByteArray();
                    await client.Broker.PublishAsync("", client.Broker.Topology.ShardQueue("layer", envelope.ShardId), body, new BasicProperties { MessageId = $"bad-{i:D3}" });
                }
                for (var s = 0; s < settings.ShardCount; s++) await client.EnsureShardAsync("layer", s);
            }
            Task? restart = null;
            var log = new ClusterEndToEndTests.LineWriter(line =>
            {
                if (restart is null && line.StartsWith("layer 1:", StringComparison.Ordinal))
                    restart = Task.Run(async () =>
                    {
                        await broker.StopAsync();
                        await broker.StartAsync();
                    });
            });
            var outDir = Path.Combine(_root, "clustered");
            await CompressJob.RunAsync(Options(model, outDir, calibration, ClusterFile.Load(file)), log).WaitAsync(TimeSpan.FromMinutes(4));
            Assert.NotNull(restart);
            await restart!;
            AssertSameCheckpoint(expected, outDir);
            Assert.All(nodes, n => Assert.False(n.HasExited, $"{n.Id} exited:\n{n.Output}"));
            var deadLetters = $"{settings.ClusterName}.dead-letters";
            Assert.True(await TestCluster.WaitUntilAsync(() => TestCluster.CountAsync(broker, deadLetters).Result >= 100, Wait));
            var dead = await TestCluster.DrainAsync(broker, deadLetters);
            var bad = dead.Where(d => d.BasicProperties.MessageId?.StartsWith("bad-", StringComparison.Ordinal) == true).ToList();
            Assert.Equal(100, bad.Select(d => d.BasicProperties.MessageId).Distinct().Count());
            Assert.All(bad, d => Assert.False(string.IsNullOrEmpty(TestCluster.Header(d.BasicProperties, ClusterTopology.ReasonHeader))));
        }
        finally
        {
            foreach (var n in nodes) n.Dispose();
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
