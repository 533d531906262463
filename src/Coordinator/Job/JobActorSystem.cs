using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Offload.Runtime;

namespace Offload.Coordinator.Job;

/// <summary>
/// The actor system of a job run in this process: <see cref="LocalActorSystem.Quiet"/> plus Akka.Persistence for the
/// <see cref="JobCoordinator"/> — journal and snapshot store in a SQLite database (Akka.Persistence.Sql over
/// Microsoft.Data.Sqlite, tables created on first use), or Akka's in-memory journal when the job has no folder.
/// </summary>
public static class JobActorSystem
{
    /// <summary>The coordinator's event database inside the journal folder.</summary>
    public const string EventsFile = "events.db";

    /// <param name="eventsDb">the SQLite file (created when missing); null = events in memory only.</param>
    public static ActorSystem Create(string? eventsDb)
    {
        var persistence = eventsDb is null
            ? ConfigurationFactory.ParseString("""
                akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
                akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
                """)
            : ConfigurationFactory.ParseString($$"""
                akka.persistence {
                  journal {
                    plugin = "akka.persistence.journal.sql"
                    sql {
                      connection-string = "{{ConnectionString(eventsDb)}}"
                      provider-name = "SQLite.MS"
                      auto-initialize = on
                    }
                  }
                  snapshot-store {
                    plugin = "akka.persistence.snapshot-store.sql"
                    sql {
                      connection-string = "{{ConnectionString(eventsDb)}}"
                      provider-name = "SQLite.MS"
                      auto-initialize = on
                    }
                  }
                }
                """).WithFallback(SqlPersistence.DefaultConfiguration);
        return ActorSystem.Create("offload-job", persistence.WithFallback(LocalActorSystem.Quiet));
    }

    private static string ConnectionString(string path) =>
        "Data Source=" + Path.GetFullPath(path).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
}
