using System.Diagnostics;
using System.Globalization;
using Offload.Actors;
using Offload.Actors.Cluster;
using Offload.Coordinator.Cluster;
using Offload.Protocol;
using Offload.Protocol.Cluster;

namespace Offload.Bench;

/// <summary>
/// Control-plane round trip through the broker: a private broker on loopback (Debian's rabbitmq-server), one node
/// hosting an echo entity, one client. Each ask is a confirmed persistent publish into the entity's durable shard
/// queue, delivery, the entity's answer, a confirmed publish into the client's reply queue, delivery, acks.
/// Sequential asks (one in flight); p50 / p99 / max of the latency.
/// `dotnet run -c Release --project bench/Offload.Bench -- control-plane [asks=2000]`
/// </summary>
public static class ControlPlaneRoundTrip
{
    private sealed class Echo : ReceiveActor
    {
        public Echo() => Receive<RunLayer>(m => Sender.Tell(new LayerDone { Layer = m.Layer, Attempt = m.Attempt }, Self));
    }

    public static async Task RunAsync(int asks)
    {
        await using var broker = await LocalBroker.StartNewAsync();
        var settings = new ClusterSettings { ClusterName = "bench", NodeId = "bench-node", BrokerUris = [broker.AmqpUri], ShardCount = 8 };
        await using var node = await ClusterNode.StartAsync(new ClusterNodeOptions(settings)
        {
            EntityTypes = [new ClusterEntityType("echo", _ => Props.Create(() => new Echo()))],
            Devices = () => [new DeviceInventory { Device = "cpu:0", MemoryBytes = 1L << 30, FreeBytes = 1L << 30 }],
        });
        await node.Joined.WaitAsync(TimeSpan.FromSeconds(30));
        await using var client = await ClusterClient.ConnectAsync(settings);
        var timeout = TimeSpan.FromSeconds(30);
        for (var i = 0; i < 200; i++) await client.AskEntityAsync("echo", $"e{i % 8}", new RunLayer { Layer = i }, timeout); // warm-up, shards allocated
        var latencies = new double[asks];
        for (var i = 0; i < asks; i++)
        {
            var sw = Stopwatch.StartNew();
            await client.AskEntityAsync("echo", $"e{i % 8}", new RunLayer { Layer = i }, timeout);
            latencies[i] = sw.Elapsed.TotalMilliseconds;
        }
        var coordinator = new double[Math.Min(asks, 500)];
        for (var i = 0; i < coordinator.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            await client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), timeout);
            coordinator[i] = sw.Elapsed.TotalMilliseconds;
        }
        Report($"entity ask (shard queue → entity → reply queue), {asks} sequential", latencies);
        Report($"coordinator ask (GetClusterState through the single-active-consumer queue), {coordinator.Length} sequential", coordinator);
    }

    private static void Report(string what, double[] ms)
    {
        Array.Sort(ms);
        double P(double q) => ms[Math.Min(ms.Length - 1, (int)Math.Ceiling(q * ms.Length) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: p50 {P(0.50):F2} ms, p99 {P(0.99):F2} ms, max {ms[^1]:F2} ms"));
    }
}
