using System.Globalization;
using Offload.DeviceActors;
using Offload.Protocol;
using Offload.Runtime;
using YamlDotNet.RepresentationModel;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// A cluster file (cluster-config/settings.yaml documents every key with its default): the Akka.NET cluster every node
/// and client of one cluster share — its name, seed nodes, journal and failure-detector settings — and the nodes. Unknown
/// keys are errors (a typo must not silently fall back to a default); every error names the file, the key and the fix.
/// </summary>
public sealed record ClusterFile(string Path, string Name, IReadOnlyList<string> Seeds, IReadOnlyList<ClusterFileNode> Nodes)
{
    /// <summary>May host the job coordinator singleton (and its journal).</summary>
    public const string CoordinatorRole = "coordinator";

    /// <summary>Hosts layer entities (the shard region "layer-work") on its devices.</summary>
    public const string WorkerRole = "worker";

    /// <summary>The role of a process that submits a job (offload eval|compress --cluster) and waits for it.</summary>
    public const string ClientRole = "client";

    /// <summary>journal.postgres: the coordinator's journal on PostgreSQL (Npgsql connection string); null = <see cref="SqliteJournal"/>.</summary>
    public string? PostgresJournal { get; init; }

    /// <summary>journal.sqlite: a SQLite file every coordinator node can open (one machine); used when no PostgreSQL is given.</summary>
    public string? SqliteJournal { get; init; }

    /// <summary>membership.heartbeat-interval.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = new RuntimeSettings().HeartbeatInterval;

    /// <summary>membership.acceptable-heartbeat-pause.</summary>
    public TimeSpan AcceptableHeartbeatPause { get; init; } = new RuntimeSettings().AcceptableHeartbeatPause;

    /// <summary>membership.stable-after (split-brain resolver).</summary>
    public TimeSpan StableAfter { get; init; } = new RuntimeSettings().StableAfter;

    /// <summary>client.host: where a submitting process binds remoting.</summary>
    public string ClientHost { get; init; } = "127.0.0.1";

    /// <summary>client.port: 0 = a free port.</summary>
    public int ClientPort { get; init; }

    /// <summary>How long a submitting client waits to join the cluster before it reports it unreachable.</summary>
    public static readonly TimeSpan ClientJoinTimeout = TimeSpan.FromSeconds(8);

    /// <summary>How long <see cref="CheckSeedsListen"/> waits for a seed's TCP connection before it counts the seed as not answering.</summary>
    public static readonly TimeSpan SeedProbeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Refuses, within seconds and before any work, a cluster none of whose seed addresses accepts a TCP connection
    /// (connection refused, no route, unknown host, or no answer within <see cref="SeedProbeTimeout"/>): one line naming
    /// the file, every seed address and why, and the fix. When a seed accepts, the client joins as usual (Akka.NET then
    /// checks that it is a node of this cluster, within <see cref="ClientJoinTimeout"/>).
    /// </summary>
    public void CheckSeedsListen()
    {
        var probes = Seeds.Select(ProbeAsync).ToArray();
        var problems = Task.WhenAll(probes).GetAwaiter().GetResult();
        if (problems.Any(p => p is null)) return;
        throw new ClusterConfigurationException(
            $"{Path}: no seed node answers at {string.Join(", ", Seeds.Zip(problems, (s, p) => $"{s} ({p})"))}; " +
            $"start a seed node first (offload node --cluster {Path} --node ID), or fix cluster.seeds / the nodes' host and port");
    }

    /// <summary>null when something accepts a TCP connection at <paramref name="seed"/> (host:port); otherwise why not, in words.</summary>
    private static async Task<string?> ProbeAsync(string seed)
    {
        var colon = seed.LastIndexOf(':');
        var host = seed[..colon].Trim('[', ']');
        var port = int.Parse(seed[(colon + 1)..], CultureInfo.InvariantCulture);
        using var cts = new CancellationTokenSource(SeedProbeTimeout);
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(host, port, cts.Token).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException)
        {
            return string.Create(CultureInfo.InvariantCulture, $"no answer in {SeedProbeTimeout.TotalSeconds:0} s");
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return e.SocketErrorCode switch
            {
                System.Net.Sockets.SocketError.ConnectionRefused => "connection refused",
                System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData or System.Net.Sockets.SocketError.TryAgain => "unknown host",
                System.Net.Sockets.SocketError.HostUnreachable or System.Net.Sockets.SocketError.NetworkUnreachable => "unreachable",
                System.Net.Sockets.SocketError.TimedOut => "timed out",
                _ => e.SocketErrorCode.ToString().ToLowerInvariant(),
            };
        }
    }

    /// <summary>journal.sqlite's default: {temp}/offload-{cluster name}-journal.db.</summary>
    public static string DefaultSqliteJournal(string clusterName) => System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"offload-{clusterName}-journal.db");

    /// <summary>The node <paramref name="nodeId"/> (the only node when null and the file lists one).</summary>
    public ClusterFileNode ForNode(string? nodeId)
    {
        if (nodeId is null)
        {
            if (Nodes.Count != 1)
                throw new ClusterConfigurationException($"{Path}: lists {Nodes.Count} nodes; pass --node with one of {string.Join(", ", Nodes.Select(n => n.Id))}");
            return Nodes[0];
        }
        return Nodes.FirstOrDefault(n => n.Id == nodeId)
            ?? throw new ClusterConfigurationException($"{Path}: no node '{nodeId}' under nodes; the file lists {string.Join(", ", Nodes.Select(n => n.Id))}");
    }

    /// <summary>The runtime settings of node <paramref name="node"/> or, when null, of a submitting client.</summary>
    public RuntimeSettings Runtime(ClusterFileNode? node, string logFile) => new()
    {
        SystemName = Name,
        Host = node?.Host ?? ClientHost,
        Port = node?.Port ?? ClientPort,
        SeedNodes = Seeds.Select(s => $"akka.tcp://{Name}@{s}").ToList(),
        Roles = node?.Roles ?? [ClientRole],
        PostgresConnectionString = node is { IsCoordinator: true } ? PostgresJournal : null,
        SqliteJournalPath = node is { IsCoordinator: true } && PostgresJournal is null ? SqliteJournal! : "unused.db",
        // Only the coordinator's journal persists; workers and clients never write events.
        InMemoryJournal = node is not { IsCoordinator: true },
        HeartbeatInterval = HeartbeatInterval,
        AcceptableHeartbeatPause = AcceptableHeartbeatPause,
        StableAfter = StableAfter,
        // A client reports an unreachable cluster within seconds; a node may wait longer for its seeds to come up.
        JoinTimeout = node is null ? ClientJoinTimeout : TimeSpan.FromSeconds(30),
        LogFile = logFile,
    };

    public static ClusterFile Load(string path)
    {
        if (!File.Exists(path)) throw new ClusterConfigurationException($"{path}: cluster file not found; pass --cluster with a file like cluster-config/local-3node.yaml");
        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            yaml.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new ClusterConfigurationException($"{path}: not valid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.Message}");
        }
        var root = yaml.Documents.Count == 0 ? new YamlMappingNode() : yaml.Documents[0].RootNode as YamlMappingNode
            ?? throw new ClusterConfigurationException($"{path}: the top level must be a mapping (cluster:, journal:, membership:, client:, nodes:)");
        var p = new Reader(path);
        p.Keys(root, "", "cluster", "journal", "membership", "client", "nodes");
        var name = "offload";
        List<string>? seeds = null;
        if (p.Map(root, "cluster") is { } cluster)
        {
            p.Keys(cluster, "cluster", "name", "seeds");
            name = p.Str(cluster, "cluster.name") ?? name;
            seeds = p.List(cluster, "cluster.seeds");
        }
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') || !char.IsAsciiLetterOrDigit(name[0]))
            throw p.Error("cluster.name", $"is '{name}'; use letters, digits, - and _ (it is the actor system's name), starting with a letter or digit");
        string? postgres = null, sqlite = null;
        if (p.Map(root, "journal") is { } journal)
        {
            p.Keys(journal, "journal", "postgres", "sqlite");
            postgres = p.Str(journal, "journal.postgres") is { Length: > 0 } pg ? pg : null;
            sqlite = p.Str(journal, "journal.sqlite") is { Length: > 0 } sq ? System.IO.Path.GetFullPath(sq, System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!) : null;
        }
        var defaults = new RuntimeSettings();
        TimeSpan heartbeat = defaults.HeartbeatInterval, pause = defaults.AcceptableHeartbeatPause, stable = defaults.StableAfter;
        if (p.Map(root, "membership") is { } membership)
        {
            p.Keys(membership, "membership", "heartbeat-interval", "acceptable-heartbeat-pause", "stable-after");
            heartbeat = p.Duration(membership, "membership.heartbeat-interval") ?? heartbeat;
            pause = p.Duration(membership, "membership.acceptable-heartbeat-pause") ?? pause;
            stable = p.Duration(membership, "membership.stable-after") ?? stable;
        }
        string clientHost = "127.0.0.1";
        var clientPort = 0;
        if (p.Map(root, "client") is { } client)
        {
            p.Keys(client, "client", "host", "port");
            clientHost = p.Str(client, "client.host") ?? clientHost;
            clientPort = p.Int(client, "client.port") ?? 0;
        }
        var nodes = new List<ClusterFileNode>();
        if (root.Children.TryGetValue(new YamlScalarNode("nodes"), out var nodesNode))
        {
            if (nodesNode is not YamlSequenceNode seq) throw p.Error("nodes", "must be a list of nodes (- id: …)");
            var i = 0;
            foreach (var item in seq)
            {
                var at = string.Create(CultureInfo.InvariantCulture, $"nodes[{i++}]");
                if (item is not YamlMappingNode n) throw p.Error(at, "must be a mapping with id:, host:, port:, roles:, devices:, device-memory:, data-plane:");
                p.Keys(n, at, "id", "host", "port", "roles", "devices", "device-memory", "data-plane");
                var id = p.Str(n, at + ".id") ?? throw p.Error(at + ".id", "is required (a unique node name)");
                if (id.Length == 0 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
                    throw p.Error(at + ".id", $"is '{id}'; use letters, digits, - and _");
                var nodeHost = p.Str(n, at + ".host") ?? "127.0.0.1";
                var port = p.Int(n, at + ".port") ?? throw p.Error(at + ".port", "is required (the node's remoting port, e.g. 7001; seeds are host:port)");
                if (port is <= 0 or > 65535) throw p.Error(at + ".port", $"is {port}; use a TCP port 1–65535");
                var roles = p.List(n, at + ".roles") ?? [CoordinatorRole, WorkerRole];
                foreach (var r in roles)
                    if (r is not (CoordinatorRole or WorkerRole)) throw p.Error(at + ".roles", $"has '{r}'; the roles are {CoordinatorRole} and {WorkerRole}");
                var devices = (p.List(n, at + ".devices") ?? ["cpu:0"])
                    .Select(d => DeviceId.TryParse(d, out var dev) ? dev : throw p.Error(at + ".devices", $"has '{d}', which is not cpu:N or cuda:N")).ToList();
                var memory = p.Str(n, at + ".device-memory") is { } m ? ByteSize.Parse(m, $"{path}: {at}.device-memory") : ClusterFileNode.DefaultDeviceMemory;
                string bind = "127.0.0.1", host = "";
                var dataPort = 0;
                if (p.Map(n, "data-plane") is { } dp)
                {
                    p.Keys(dp, at + ".data-plane", "bind", "port", "host");
                    bind = p.Str(dp, at + ".data-plane.bind") ?? bind;
                    dataPort = p.Int(dp, at + ".data-plane.port") ?? 0;
                    host = p.Str(dp, at + ".data-plane.host") ?? "";
                }
                if (nodes.Any(x => x.Id == id)) throw p.Error(at + ".id", $"'{id}' is used twice");
                if (nodes.Any(x => x.Host == nodeHost && x.Port == port)) throw p.Error(at + ".port", $"{nodeHost}:{port} is used by another node");
                nodes.Add(new ClusterFileNode(id, nodeHost, port, roles, devices, memory, bind, dataPort, host.Length > 0 ? host : bind));
            }
        }
        if (nodes.Count == 0) throw p.Error("nodes", "lists no node; add at least one (- id: node-1, port: 7001)");
        if (!nodes.Any(n => n.IsCoordinator)) throw p.Error("nodes", "has no node with the coordinator role; give one roles: [coordinator, worker]");
        if (!nodes.Any(n => n.IsWorker)) throw p.Error("nodes", "has no node with the worker role; give one roles: [coordinator, worker]");
        // Without PostgreSQL the coordinator nodes share a SQLite file: one machine only (the default is in its temp folder).
        if (postgres is null) sqlite ??= DefaultSqliteJournal(name);
        if (seeds is not { Count: > 0 }) seeds = nodes.Select(n => $"{n.Host}:{n.Port}").ToList();
        foreach (var s in seeds)
        {
            var colon = s.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(s[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var sp) || sp is <= 0 or > 65535)
                throw p.Error("cluster.seeds", $"has '{s}', not host:port");
        }
        return new ClusterFile(path, name, seeds, nodes)
        {
            PostgresJournal = postgres,
            SqliteJournal = sqlite,
            HeartbeatInterval = heartbeat,
            AcceptableHeartbeatPause = pause,
            StableAfter = stable,
            ClientHost = clientHost,
            ClientPort = clientPort,
        };
    }

    private sealed class Reader(string path)
    {
        public ClusterConfigurationException Error(string key, string problem) => new($"{path}: {key} {problem}");

        public void Keys(YamlMappingNode map, string at, params string[] allowed)
        {
            foreach (var key in map.Children.Keys)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(name))
                    throw Error(at.Length == 0 ? name : $"{at}.{name}", $"is not a setting; the keys here are {string.Join(", ", allowed)} (see cluster-config/settings.yaml)");
            }
        }

        public YamlMappingNode? Map(YamlMappingNode parent, string key) =>
            parent.Children.TryGetValue(new YamlScalarNode(key), out var node)
                ? node as YamlMappingNode ?? throw Error(key, "must be a mapping")
                : null;

        public string? Str(YamlMappingNode map, string key)
        {
            var last = key[(key.LastIndexOf('.') + 1)..];
            if (!map.Children.TryGetValue(new YamlScalarNode(last), out var node)) return null;
            return node is YamlScalarNode s ? s.Value : throw Error(key, "must be a single value");
        }

        public int? Int(YamlMappingNode map, string key) =>
            Str(map, key) is { } s
                ? int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw Error(key, $"is '{s}', not an integer")
                : null;

        public List<string>? List(YamlMappingNode map, string key)
        {
            var last = key[(key.LastIndexOf('.') + 1)..];
            if (!map.Children.TryGetValue(new YamlScalarNode(last), out var node)) return null;
            return node switch
            {
                YamlSequenceNode seq => seq.Select(x => (x as YamlScalarNode)?.Value ?? throw Error(key, "must be a list of values")).ToList(),
                YamlScalarNode s when s.Value is { } v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(),
                _ => throw Error(key, "must be a list"),
            };
        }

        public TimeSpan? Duration(YamlMappingNode map, string key)
        {
            if (Str(map, key) is not { } s) return null;
            var t = s.Trim();
            var i = 0;
            while (i < t.Length && (char.IsDigit(t[i]) || t[i] == '.')) i++;
            if (i == 0 || !double.TryParse(t[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
                throw Error(key, $"is '{s}', not a duration; write e.g. 500ms, 2s, 10m, 1h");
            return t[i..].Trim() switch
            {
                "ms" => TimeSpan.FromMilliseconds(value),
                "s" or "" => TimeSpan.FromSeconds(value),
                "m" => TimeSpan.FromMinutes(value),
                "h" => TimeSpan.FromHours(value),
                var u => throw Error(key, $"has the unit '{u}'; use ms, s, m or h"),
            };
        }
    }
}
