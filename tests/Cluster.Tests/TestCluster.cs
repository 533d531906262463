using System.Text;
using Offload.Actors.Cluster;
using Offload.Coordinator.Cluster;
using RabbitMQ.Client;

namespace Offload.Cluster.Tests;

/// <summary>Helpers shared by the cluster tests: settings with a unique cluster name, raw broker access, waiting.</summary>
internal static class TestCluster
{
    /// <summary>
    /// Writes DIR/cluster.yaml: a fresh cluster name on <paramref name="broker"/>, fast heartbeats, and three
    /// coordinator+worker nodes node-1..node-3 with one cpu device of 64 MiB each. Returns its path.
    /// </summary>
    public static string WriteThreeNodeFile(LocalBroker broker, string dir, string namePrefix)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "cluster.yaml");
        var text = new StringBuilder();
        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"cluster: {{ name: {namePrefix}{Guid.NewGuid().ToString("N")[..8]}, shard-count: 16 }}\n");
        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"broker: {{ uris: [\"{broker.AmqpUri}\"], publish-timeout: 90s }}\n");
        text.Append("membership: { heartbeat-interval: 250ms, down-after-missed-heartbeats: 6, retry-interval: 250ms }\n");
        text.Append("sharding: { handoff-timeout: 20s }\n");
        text.Append("jobs: { layer-timeout: 120s }\n");
        text.Append("nodes:\n");
        for (var i = 1; i <= 3; i++)
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"  - {{ id: node-{i}, roles: [coordinator, worker], devices: [cpu:0], device-memory: 64MiB }}\n");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    /// <summary>Settings for a node of a fresh cluster (its own queue names) on <paramref name="broker"/>.</summary>
    public static ClusterSettings Settings(LocalBroker broker, string nodeId = "n1", string? cluster = null) => new()
    {
        ClusterName = cluster ?? "t" + Guid.NewGuid().ToString("N")[..10],
        NodeId = nodeId,
        BrokerUris = [broker.AmqpUri],
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        RetryInterval = TimeSpan.FromMilliseconds(200),
        PublishTimeout = TimeSpan.FromSeconds(90),
        ShardCount = 8,
    };

    /// <summary>Every message of a queue, taken with basic.get (and acknowledged).</summary>
    public static async Task<List<BasicGetResult>> DrainAsync(LocalBroker broker, string queue)
    {
        var factory = new ConnectionFactory { Uri = broker.AmqpUri };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var all = new List<BasicGetResult>();
        while (await channel.BasicGetAsync(queue, autoAck: true) is { } got) all.Add(got);
        return all;
    }

    /// <summary>Messages ready in a queue now.</summary>
    public static async Task<uint> CountAsync(LocalBroker broker, string queue)
    {
        var factory = new ConnectionFactory { Uri = broker.AmqpUri };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return await channel.MessageCountAsync(queue);
    }

    /// <summary>A string header of a message (RabbitMQ.Client gives header strings as UTF-8 bytes).</summary>
    public static string? Header(IReadOnlyBasicProperties properties, string name) =>
        properties.Headers is { } h && h.TryGetValue(name, out var v) ? v switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            string s => s,
            _ => v?.ToString(),
        } : null;

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds or <paramref name="timeout"/> passes (real time).</summary>
    public static async Task<bool> WaitUntilAsync(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(20);
        }
        return true;
    }
}
