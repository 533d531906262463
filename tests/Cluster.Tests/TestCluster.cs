using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Offload.Tests.Shared;

namespace Offload.Cluster.Tests;

/// <summary>Helpers shared by the cluster tests: a cluster file with free ports and its own journal database, waiting.</summary>
internal static class TestCluster
{
    /// <summary>
    /// Writes DIR/cluster.yaml: a fresh cluster name, the shipped membership settings, three coordinator+worker nodes
    /// node-1..node-3 on free loopback ports with one cpu device of 64 MiB each, and the journal in database
    /// <paramref name="journal"/> (a PostgreSQL connection string). Returns its path.
    /// </summary>
    public static string WriteThreeNodeFile(string dir, string namePrefix, string journal)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "cluster.yaml");
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.Append(inv, $"cluster: {{ name: {namePrefix}{Guid.NewGuid().ToString("N")[..8]} }}\n");
        text.Append(inv, $"journal: {{ postgres: \"{journal}\" }}\n");
        text.Append("nodes:\n");
        for (var i = 1; i <= 3; i++)
            text.Append(inv, $"  - {{ id: node-{i}, port: {FreePort()}, roles: [coordinator, worker], devices: [cpu:0], device-memory: 64MiB }}\n");
        File.WriteAllText(path, text.ToString());
        return path;
    }

    /// <summary>A TCP port free on 127.0.0.1 now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

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

/// <summary>One private PostgreSQL server for the cluster tests (a database per test cluster).</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PrivatePostgres? _server;
    private int _next;

    public async Task InitializeAsync() => _server = await PrivatePostgres.StartAsync();

    /// <summary>A new, empty database's connection string.</summary>
    public Task<string> NewDatabaseAsync() =>
        _server!.CreateDatabaseAsync(string.Create(CultureInfo.InvariantCulture, $"cluster_{Interlocked.Increment(ref _next)}"));

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}

/// <summary>The cluster tests run one after another (each starts three node processes) and share one PostgreSQL server.</summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "Cluster";
}
