using System.Globalization;
using Offload.Actors.Cluster;
using Offload.DeviceActors;
using Offload.Protocol;
using YamlDotNet.RepresentationModel;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// A cluster file (cluster-config/settings.yaml documents every key with its default): the settings every node and
/// client of one cluster share, and the nodes. Unknown keys are errors (a typo must not silently fall back to a
/// default); every error names the file, the key and the fix.
/// </summary>
public sealed record ClusterFile(string Path, ClusterSettings Settings, TimeSpan LayerTimeout, IReadOnlyList<ClusterFileNode> Nodes)
{
    /// <summary>Address the driver's tensor server listens on (jobs.driver-bind).</summary>
    public string DriverBind { get; init; } = "127.0.0.1";

    /// <summary>Host name written into the driver's tensor URLs (jobs.driver-host; default: the bind address).</summary>
    public string DriverHost { get; init; } = "127.0.0.1";

    public static readonly TimeSpan DefaultLayerTimeout = TimeSpan.FromHours(1);

    /// <summary>The settings of node <paramref name="nodeId"/> (the only node when null and the file lists one).</summary>
    public (ClusterSettings Settings, ClusterFileNode Node) ForNode(string? nodeId)
    {
        ClusterFileNode node;
        if (nodeId is null)
        {
            if (Nodes.Count != 1)
                throw new ClusterConfigurationException($"{Path}: lists {Nodes.Count} nodes; pass --node with one of {string.Join(", ", Nodes.Select(n => n.Id))}");
            node = Nodes[0];
        }
        else
        {
            node = Nodes.FirstOrDefault(n => n.Id == nodeId)
                ?? throw new ClusterConfigurationException($"{Path}: no node '{nodeId}' under nodes; the file lists {string.Join(", ", Nodes.Select(n => n.Id))}");
        }
        var settings = Settings with { NodeId = node.Id, Roles = node.Roles };
        settings.Validate();
        return (settings, node);
    }

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
            throw new ClusterConfigurationException($"{path}: not valid YAML at line {ex.Start.Line}: {ex.Message}");
        }
        var root = yaml.Documents.Count == 0 ? new YamlMappingNode() : yaml.Documents[0].RootNode as YamlMappingNode
            ?? throw new ClusterConfigurationException($"{path}: the top level must be a mapping (cluster:, broker:, membership:, sharding:, jobs:, nodes:)");
        var p = new Reader(path);
        p.Keys(root, "", "cluster", "broker", "membership", "sharding", "jobs", "nodes");
        var settings = new ClusterSettings();
        var layerTimeout = DefaultLayerTimeout;
        string driverBind = "127.0.0.1", driverHost = "";
        if (p.Map(root, "cluster") is { } cluster)
        {
            p.Keys(cluster, "cluster", "name", "shard-count", "queue-type", "shard-memory");
            settings = settings with
            {
                ClusterName = p.Str(cluster, "cluster.name") ?? settings.ClusterName,
                ShardCount = p.Int(cluster, "cluster.shard-count") ?? settings.ShardCount,
                QueueType = p.Str(cluster, "cluster.queue-type") is { } qt ? p.Enum<QueueKind>(qt, "cluster.queue-type") : settings.QueueType,
                ShardMemoryBytes = p.Str(cluster, "cluster.shard-memory") is { } sm ? (sm == "0" ? 0 : ByteSize.Parse(sm, $"{path}: cluster.shard-memory")) : 0,
            };
        }
        if (p.Map(root, "broker") is { } broker)
        {
            p.Keys(broker, "broker", "uris", "publish-timeout");
            settings = settings with
            {
                BrokerUris = p.List(broker, "broker.uris") is { } uris ? uris.Select(u => p.Uri(u, "broker.uris")).ToList() : settings.BrokerUris,
                PublishTimeout = p.Duration(broker, "broker.publish-timeout") ?? settings.PublishTimeout,
            };
        }
        if (p.Map(root, "membership") is { } membership)
        {
            p.Keys(membership, "membership", "heartbeat-interval", "down-after-missed-heartbeats", "retry-interval");
            settings = settings with
            {
                HeartbeatInterval = p.Duration(membership, "membership.heartbeat-interval") ?? settings.HeartbeatInterval,
                DownAfterMissedHeartbeats = p.Int(membership, "membership.down-after-missed-heartbeats") ?? settings.DownAfterMissedHeartbeats,
                RetryInterval = p.Duration(membership, "membership.retry-interval") ?? settings.RetryInterval,
            };
        }
        if (p.Map(root, "sharding") is { } sharding)
        {
            p.Keys(sharding, "sharding", "handoff-timeout", "shard-prefetch", "max-handler-attempts", "dedup-capacity", "node-queue-expiry");
            settings = settings with
            {
                HandOffTimeout = p.Duration(sharding, "sharding.handoff-timeout") ?? settings.HandOffTimeout,
                ShardPrefetch = p.Int(sharding, "sharding.shard-prefetch") ?? settings.ShardPrefetch,
                MaxHandlerAttempts = p.Int(sharding, "sharding.max-handler-attempts") ?? settings.MaxHandlerAttempts,
                DedupCapacity = p.Int(sharding, "sharding.dedup-capacity") ?? settings.DedupCapacity,
                NodeQueueExpiry = p.Duration(sharding, "sharding.node-queue-expiry") ?? settings.NodeQueueExpiry,
            };
        }
        if (p.Map(root, "jobs") is { } jobs)
        {
            p.Keys(jobs, "jobs", "layer-timeout", "driver-bind", "driver-host");
            layerTimeout = p.Duration(jobs, "jobs.layer-timeout") ?? layerTimeout;
            driverBind = p.Str(jobs, "jobs.driver-bind") ?? driverBind;
            driverHost = p.Str(jobs, "jobs.driver-host") ?? "";
        }
        var nodes = new List<ClusterFileNode>();
        if (root.Children.TryGetValue(new YamlScalarNode("nodes"), out var nodesNode))
        {
            if (nodesNode is not YamlSequenceNode seq) throw p.Error("nodes", "must be a list of nodes (- id: …)");
            var i = 0;
            foreach (var item in seq)
            {
                var at = string.Create(CultureInfo.InvariantCulture, $"nodes[{i++}]");
                if (item is not YamlMappingNode n) throw p.Error(at, "must be a mapping with id:, roles:, devices:, device-memory:, data-plane:");
                p.Keys(n, at, "id", "roles", "devices", "device-memory", "data-plane");
                var id = p.Str(n, at + ".id") ?? throw p.Error(at + ".id", "is required (a unique node name)");
                var roles = p.List(n, at + ".roles") ?? [ClusterRoles.Coordinator, ClusterRoles.Worker];
                var devices = (p.List(n, at + ".devices") ?? ["cpu:0"])
                    .Select(d => DeviceId.TryParse(d, out var dev) ? dev : throw p.Error(at + ".devices", $"has '{d}', which is not cpu:N or cuda:N")).ToList();
                var memory = p.Str(n, at + ".device-memory") is { } m ? ByteSize.Parse(m, $"{path}: {at}.device-memory") : ClusterFileNode.DefaultDeviceMemory;
                string bind = "127.0.0.1", host = "";
                var port = 0;
                if (p.Map(n, "data-plane") is { } dp)
                {
                    p.Keys(dp, at + ".data-plane", "bind", "port", "host");
                    bind = p.Str(dp, at + ".data-plane.bind") ?? bind;
                    port = p.Int(dp, at + ".data-plane.port") ?? 0;
                    host = p.Str(dp, at + ".data-plane.host") ?? "";
                }
                if (nodes.Any(x => x.Id == id)) throw p.Error(at + ".id", $"'{id}' is used twice");
                nodes.Add(new ClusterFileNode(id, roles, devices, memory, bind, port, host.Length > 0 ? host : bind));
            }
        }
        try
        {
            settings.Validate();
        }
        catch (ClusterConfigurationException ex)
        {
            throw new ClusterConfigurationException($"{path}: {ex.Message}");
        }
        return new ClusterFile(path, settings, layerTimeout, nodes) { DriverBind = driverBind, DriverHost = driverHost.Length > 0 ? driverHost : driverBind };
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

        public T Enum<T>(string value, string key) where T : struct, System.Enum =>
            System.Enum.TryParse<T>(value, ignoreCase: true, out var v) && System.Enum.IsDefined(v) ? v
                : throw Error(key, $"is '{value}'; use one of {string.Join(", ", System.Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}");

        public Uri Uri(string value, string key) =>
            System.Uri.TryCreate(value, UriKind.Absolute, out var u) ? u : throw Error(key, $"has '{value}', not an amqp://user:pass@host:port/ URI");
    }
}
