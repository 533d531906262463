namespace Offload.Runtime;

/// <summary>
/// Everything that varies between an embedded run and a cluster node (DESIGN.md §2, "Runtime glue"). The defaults are
/// the embedded default: a one-node cluster that joins itself on loopback at a free port, with its journal in a SQLite
/// file. <see cref="RuntimeConfig.Build"/> turns this into HOCON; <c>cluster-config/akka-settings.md</c> documents every
/// setting with Akka's default and why ours differs.
/// </summary>
public sealed record RuntimeSettings
{
    /// <summary>The actor system's name; every node of a cluster must use the same one.</summary>
    public string SystemName { get; init; } = "offload";

    /// <summary>The host (IP or name) remoting binds to and other nodes reach this one at.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The TCP port remoting binds to; 0 = a free port chosen by the OS (see <see cref="OffloadRuntime.Port"/>).</summary>
    public int Port { get; init; }

    /// <summary>Seed nodes as <c>akka.tcp://system@host:port</c> addresses; empty = this node forms a cluster by joining itself.</summary>
    public IReadOnlyList<string> SeedNodes { get; init; } = [];

    /// <summary>Cluster roles of this node (e.g. "coordinator", "worker"); empty = none (every role-free region and singleton may run here).</summary>
    public IReadOnlyList<string> Roles { get; init; } = [];

    /// <summary>The SQLite file of the journal and snapshot store (the embedded default; the file, its folder and its tables are
    /// created on first use; callers put it in the work folder).
    /// Ignored when <see cref="PostgresConnectionString"/> is set.</summary>
    public string SqliteJournalPath { get; init; } = "offload-journal.sqlite";

    /// <summary>A PostgreSQL connection string (Npgsql syntax) for the journal and snapshot store in cluster mode; null = SQLite.</summary>
    public string? PostgresConnectionString { get; init; }

    /// <summary>Keep the journal and snapshots in memory (Akka's inmem plugins): a job without a work folder has nothing to resume.</summary>
    public bool InMemoryJournal { get; init; }

    /// <summary>Where Akka's log (WARNING and above) goes; null = <c>{temp}/offload/akka-{system}-{pid}.log</c>. Never the terminal.</summary>
    public string? LogFile { get; init; }

    /// <summary>How long <see cref="OffloadRuntime.StartAsync"/> waits for this node to be Up before it gives up.</summary>
    public TimeSpan JoinTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Cluster failure detector: interval between heartbeats (Akka default 1 s).</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Cluster failure detector: heartbeat silence tolerated before a node is unreachable (Akka default 3 s).</summary>
    public TimeSpan AcceptableHeartbeatPause { get; init; } = TimeSpan.FromMilliseconds(1500);

    /// <summary>Split-brain resolver: how long membership must be stable before unreachable nodes are downed (Akka default 20 s).</summary>
    public TimeSpan StableAfter { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long after a node is removed its singleton and shards start elsewhere (Akka's default with the split-brain
    /// resolver: stable-after).</summary>
    public TimeSpan DownRemovalMargin { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Sharding: retry interval of region registration and shard-home requests (Akka default 2 s).</summary>
    public TimeSpan ShardingRetryInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Cluster singleton: retry interval of the hand-over from the previous oldest node (Akka default 1 s).</summary>
    public TimeSpan SingletonHandOverRetryInterval { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Remoting: how long the gate stays closed after a failed association before a new attempt (Akka default 5 s).</summary>
    public TimeSpan RetryGateClosedFor { get; init; } = TimeSpan.FromSeconds(1);
}
