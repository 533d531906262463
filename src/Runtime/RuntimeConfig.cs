using System.Globalization;
using System.Text;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Offload.Protocol.Messages;

namespace Offload.Runtime;

/// <summary>
/// Writes the HOCON of a node from <see cref="RuntimeSettings"/>: cluster provider, dot-netty TCP remoting, the
/// MessagePack binding of <see cref="IOffloadMessage"/>, sharding on ddata, the split-brain resolver and failure
/// detector tuned for jobs, logging to a file at WARNING, and Akka.Persistence.Sql on SQLite or PostgreSQL.
/// Every setting, its Akka default and why ours differs: <c>cluster-config/akka-settings.md</c>.
/// </summary>
public static class RuntimeConfig
{
    /// <summary>The serializer name under <c>akka.actor.serializers</c>.</summary>
    public const string SerializerName = "offload-msgpack";

    /// <summary>Akka.Persistence.Sql's (linq2db's) provider name for Microsoft.Data.Sqlite.</summary>
    public const string SqliteProviderName = "SQLite.MS";

    /// <summary>Akka.Persistence.Sql's (linq2db's) provider name for PostgreSQL through Npgsql (15 and newer servers).</summary>
    public const string PostgresProviderName = "PostgreSQL.15";

    /// <summary>The config path our file logger reads its file from.</summary>
    public const string LogFilePath = "offload.log-file";

    /// <summary>The HOCON of a node.</summary>
    /// <param name="settings">The node's settings.</param>
    /// <returns>The configuration with Akka.Persistence.Sql's defaults as fallback (the other modules' reference
    /// configurations are added by Akka when the system and its extensions start).</returns>
    public static Config Build(RuntimeSettings settings) =>
        ConfigurationFactory.ParseString(BuildHocon(settings)).WithFallback(SqlPersistence.DefaultConfiguration);

    /// <summary>The HOCON text <see cref="Build"/> parses (for logging the effective configuration and for tests).</summary>
    /// <param name="settings">The node's settings.</param>
    /// <returns>HOCON text.</returns>
    public static string BuildHocon(RuntimeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Validate(settings);
        var serializerType = TypeName(typeof(OffloadMessageSerializer));
        var (provider, connection) = settings.PostgresConnectionString is { } pg
            ? (PostgresProviderName, pg)
            : (SqliteProviderName, "Data Source=" + Path.GetFullPath(settings.SqliteJournalPath));
        var logFile = settings.LogFile ?? DefaultLogFile(settings.SystemName);

        var h = new StringBuilder();
        h.Append(CultureInfo.InvariantCulture, $$"""
            offload.log-file = {{Q(Path.GetFullPath(logFile))}}
            akka {
              loglevel = WARNING
              stdout-loglevel = OFF
              loggers = [{{Q(TypeName(typeof(FileLogger)))}}]
              logger-startup-timeout = 10s
              log-dead-letters-during-shutdown = off
              # The CLI owns signals: Ctrl+C prints one line and ends the process (exit 130), a node leaves on SIGTERM itself.
              coordinated-shutdown.run-by-clr-shutdown-hook = off
              actor {
                provider = cluster
                default-mailbox.mailbox-type = {{Q(TypeName(typeof(MeteredMailbox)))}}
                serializers { {{SerializerName}} = {{Q(serializerType)}} }
                serialization-bindings { {{Q(TypeName(typeof(IOffloadMessage)))}} = {{SerializerName}} }
                serialization-identifiers { {{Q(serializerType)}} = {{OffloadMessageSerializer.SerializerId}} }
              }
              remote {
                dot-netty.tcp {
                  hostname = {{Q(settings.Host)}}
                  port = {{settings.Port}}
                }
                retry-gate-closed-for = {{Ms(settings.RetryGateClosedFor)}}
              }
              cluster {
                seed-nodes = [{{string.Join(", ", settings.SeedNodes.Select(Q))}}]
                roles = [{{string.Join(", ", settings.Roles.Select(Q))}}]
                downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
                down-removal-margin = {{Ms(settings.DownRemovalMargin)}}
                split-brain-resolver {
                  active-strategy = keep-majority
                  stable-after = {{Ms(settings.StableAfter)}}
                }
                failure-detector {
                  heartbeat-interval = {{Ms(settings.HeartbeatInterval)}}
                  acceptable-heartbeat-pause = {{Ms(settings.AcceptableHeartbeatPause)}}
                }
                sharding {
                  state-store-mode = ddata
                  remember-entities = off
                  passivate-idle-entity-after = off
                  retry-interval = {{Ms(settings.ShardingRetryInterval)}}
                }
                singleton {
                  hand-over-retry-interval = {{Ms(settings.SingletonHandOverRetryInterval)}}
                }
              }
              persistence {
                journal {
                  plugin = {{Q(settings.InMemoryJournal ? "akka.persistence.journal.inmem" : "akka.persistence.journal.sql")}}
                  sql {
                    connection-string = {{Q(connection)}}
                    provider-name = {{Q(provider)}}
                    auto-initialize = on
                  }
                }
                snapshot-store {
                  plugin = {{Q(settings.InMemoryJournal ? "akka.persistence.snapshot-store.inmem" : "akka.persistence.snapshot-store.sql")}}
                  sql {
                    connection-string = {{Q(connection)}}
                    provider-name = {{Q(provider)}}
                    auto-initialize = on
                  }
                }
                query.journal.sql {
                  connection-string = {{Q(connection)}}
                  provider-name = {{Q(provider)}}
                }
              }
            }

            """);
        return h.ToString();
    }

    /// <summary>Refuses settings Akka would fail on later with a less clear message.</summary>
    /// <param name="settings">The node's settings.</param>
    /// <exception cref="RuntimeSettingsException">A value is unusable; the message names it and the fix.</exception>
    public static void Validate(RuntimeSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Port is < 0 or > 65535)
            throw new RuntimeSettingsException($"runtime settings: port {settings.Port} is out of range; use 0 (a free port) or 1–65535.");
        if (string.IsNullOrWhiteSpace(settings.SystemName) || !settings.SystemName.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            throw new RuntimeSettingsException($"runtime settings: system name '{settings.SystemName}' must be ASCII letters, digits, '-' or '_'.");
        foreach (var seed in settings.SeedNodes)
        {
            Akka.Actor.Address address;
            try { address = Akka.Actor.Address.Parse(seed); }
            catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException)
            {
                throw new RuntimeSettingsException($"runtime settings: seed node '{seed}' is not an address; write akka.tcp://{settings.SystemName}@host:port.");
            }
            if (address.Protocol != "akka.tcp" || address.Host is null || address.Port is null or <= 0)
                throw new RuntimeSettingsException($"runtime settings: seed node '{seed}' needs the akka.tcp protocol, a host and a port: akka.tcp://{settings.SystemName}@host:port.");
            if (address.System != settings.SystemName)
                throw new RuntimeSettingsException($"runtime settings: seed node '{seed}' belongs to system '{address.System}', this node is '{settings.SystemName}'; every node of a cluster uses one system name.");
        }
    }

    /// <summary>Where Akka's log goes when <see cref="RuntimeSettings.LogFile"/> is null: <c>{temp}/offload/akka-{system}-{pid}.log</c>.</summary>
    /// <param name="systemName">The actor system's name.</param>
    /// <returns>An absolute path.</returns>
    public static string DefaultLogFile(string systemName) =>
        Path.Combine(Path.GetTempPath(), "offload", $"akka-{systemName}-{Environment.ProcessId}.log");

    private static string TypeName(Type type) => $"{type.FullName}, {type.Assembly.GetName().Name}";

    private static string Ms(TimeSpan t) => ((long)Math.Round(t.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";

    /// <summary>A HOCON quoted string (JSON escapes).</summary>
    private static string Q(string s)
    {
        var b = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                default:
                    if (c < ' ') b.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else b.Append(c);
                    break;
            }
        }
        return b.Append('"').ToString();
    }
}
