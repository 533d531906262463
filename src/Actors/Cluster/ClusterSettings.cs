using System.Globalization;

namespace Offload.Actors.Cluster;

/// <summary>
/// The settings of one cluster node (cluster-config/cluster.yaml documents each with its default). Defaults are the
/// constants below; <see cref="Validate"/> checks every range and names the setting in its message.
/// </summary>
public sealed record ClusterSettings
{
    public const string DefaultClusterName = "offload";
    public const int DefaultShardCount = 32;
    public static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromSeconds(1);
    public const int DefaultDownAfterMissedHeartbeats = 5;
    public static readonly TimeSpan DefaultHandOffTimeout = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan DefaultRetryInterval = TimeSpan.FromSeconds(2);
    public static readonly TimeSpan DefaultPublishTimeout = TimeSpan.FromSeconds(120);
    public const int DefaultShardPrefetch = 16;
    public const int DefaultMaxHandlerAttempts = 3;
    public const int DefaultDedupCapacity = 100_000;
    public static readonly TimeSpan DefaultNodeQueueExpiry = TimeSpan.FromMinutes(10);

    /// <summary>Prefix of every queue and exchange ("offload" → "offload.coordinator", …); one broker can hold several clusters.</summary>
    public string ClusterName { get; init; } = DefaultClusterName;

    /// <summary>This node's id, unique in the cluster (default: host name + process id).</summary>
    public string NodeId { get; init; } = string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}");

    /// <summary>Roles of this node: "coordinator" (may run the coordinator singleton), "worker" (may host shards).</summary>
    public IReadOnlyList<string> Roles { get; init; } = [ClusterRoles.Coordinator, ClusterRoles.Worker];

    /// <summary>AMQP URIs of the broker nodes (the client connects to the first that answers).</summary>
    public IReadOnlyList<Uri> BrokerUris { get; init; } = [new Uri("amqp://guest:guest@127.0.0.1:5672/")];

    /// <summary>Queue type of the durable queues; Auto = quorum with ≥ 3 broker URIs, classic otherwise.</summary>
    public QueueKind QueueType { get; init; } = QueueKind.Auto;

    /// <summary>Shards per entity type; fixed for the life of the cluster (entity → shard is hash mod this count).</summary>
    public int ShardCount { get; init; } = DefaultShardCount;

    /// <summary>How often a node tells the coordinator it is alive (with its free device memory).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = DefaultHeartbeatInterval;

    /// <summary>A node whose last heartbeat is older than this many intervals is declared down.</summary>
    public int DownAfterMissedHeartbeats { get; init; } = DefaultDownAfterMissedHeartbeats;

    /// <summary>A whole handoff (BeginHandOff … ShardStopped); on timeout the shard stays where it was and is retried.</summary>
    public TimeSpan HandOffTimeout { get; init; } = DefaultHandOffTimeout;

    /// <summary>How often an unanswered Join or GetShardHome is sent again.</summary>
    public TimeSpan RetryInterval { get; init; } = DefaultRetryInterval;

    /// <summary>How long a publish keeps retrying while the broker is unreachable before it fails.</summary>
    public TimeSpan PublishTimeout { get; init; } = DefaultPublishTimeout;

    /// <summary>Unacknowledged messages a node takes from one shard queue at a time (entities of a shard run in parallel).</summary>
    public int ShardPrefetch { get; init; } = DefaultShardPrefetch;

    /// <summary>A message whose handler throws this many times is dead-lettered (reason "handler failed …").</summary>
    public int MaxHandlerAttempts { get; init; } = DefaultMaxHandlerAttempts;

    /// <summary>Message ids a node remembers as handled (a redelivery of one of them is acknowledged without running the handler).</summary>
    public int DedupCapacity { get; init; } = DefaultDedupCapacity;

    /// <summary>A node's own queue is deleted by the broker this long after its last consumer went away.</summary>
    public TimeSpan NodeQueueExpiry { get; init; } = DefaultNodeQueueExpiry;

    /// <summary>Device bytes one shard is expected to take; allocation picks the worker with the most projected free
    /// memory (free − hosted shards × this). 0 = count shards only.</summary>
    public long ShardMemoryBytes { get; init; }

    /// <summary>True when this node may run the coordinator singleton.</summary>
    public bool IsCoordinator => Roles.Contains(ClusterRoles.Coordinator);

    /// <summary>True when this node may host shards.</summary>
    public bool IsWorker => Roles.Contains(ClusterRoles.Worker);

    /// <summary>The queue type after resolving <see cref="QueueKind.Auto"/>.</summary>
    public QueueKind EffectiveQueueType => QueueType != QueueKind.Auto ? QueueType : BrokerUris.Count >= 3 ? QueueKind.Quorum : QueueKind.Classic;

    /// <summary>Throws <see cref="ClusterConfigurationException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ClusterName) || !IsName(ClusterName))
            throw new ClusterConfigurationException($"cluster: name '{ClusterName}' must be letters, digits, '-' or '_'");
        if (string.IsNullOrWhiteSpace(NodeId) || !IsName(NodeId))
            throw new ClusterConfigurationException($"cluster: node.id '{NodeId}' must be letters, digits, '-' or '_'");
        if (Roles.Count == 0)
            throw new ClusterConfigurationException("cluster: node.roles is empty; give coordinator, worker or both");
        foreach (var r in Roles)
            if (r is not (ClusterRoles.Coordinator or ClusterRoles.Worker))
                throw new ClusterConfigurationException($"cluster: node.roles has '{r}'; the roles are coordinator and worker");
        if (BrokerUris.Count == 0)
            throw new ClusterConfigurationException("cluster: broker.uris is empty; give at least one amqp://user:pass@host:port/ URI");
        foreach (var u in BrokerUris)
            if (u.Scheme is not ("amqp" or "amqps"))
                throw new ClusterConfigurationException($"cluster: broker URI '{u}' is not amqp:// or amqps://");
        Range(nameof(ShardCount), ShardCount, 1, 100_000);
        Range(nameof(HeartbeatInterval), HeartbeatInterval, TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(5));
        Range(nameof(DownAfterMissedHeartbeats), DownAfterMissedHeartbeats, 2, 1000);
        Range(nameof(HandOffTimeout), HandOffTimeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(24));
        Range(nameof(RetryInterval), RetryInterval, TimeSpan.FromMilliseconds(50), TimeSpan.FromMinutes(5));
        Range(nameof(PublishTimeout), PublishTimeout, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24));
        Range(nameof(ShardPrefetch), ShardPrefetch, 1, 10_000);
        Range(nameof(MaxHandlerAttempts), MaxHandlerAttempts, 1, 1000);
        Range(nameof(DedupCapacity), DedupCapacity, 1, 100_000_000);
        Range(nameof(NodeQueueExpiry), NodeQueueExpiry, TimeSpan.FromSeconds(10), TimeSpan.FromDays(30));
        if (ShardMemoryBytes < 0)
            throw new ClusterConfigurationException($"cluster: {nameof(ShardMemoryBytes)} must be ≥ 0, got {ShardMemoryBytes}");
    }

    private static void Range(string name, long value, long min, long max)
    {
        if (value < min || value > max)
            throw new ClusterConfigurationException(string.Create(CultureInfo.InvariantCulture, $"cluster: {name} must be in [{min}, {max}], got {value}"));
    }

    private static void Range(string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
            throw new ClusterConfigurationException(string.Create(CultureInfo.InvariantCulture,
                $"cluster: {name} must be in [{min.TotalSeconds} s, {max.TotalSeconds} s], got {value.TotalSeconds} s"));
    }

    private static bool IsName(string s)
    {
        foreach (var c in s)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')) return false;
        return true;
    }
}
