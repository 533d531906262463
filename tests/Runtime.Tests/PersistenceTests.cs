using System.Diagnostics;
using Akka.Actor;
using Akka.Persistence;
using Offload.Protocol.Messages;
using Offload.Tests.Shared;
using Xunit;
using Xunit.Abstractions;

namespace Offload.Runtime.Tests;

public sealed class PersistenceTests : IDisposable
{
    private static readonly TimeSpan Ask = TimeSpan.FromSeconds(15);
    private readonly TestFolder _folder = new();
    private readonly ITestOutputHelper _output;

    public PersistenceTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _folder.Dispose();

    public sealed record JournalState(IReadOnlyList<int> Layers, bool FromSnapshot, long LastSequenceNr);

    /// <summary>Persists LayerStarted records as events; "snap" saves JobAccepted(next layer) as a snapshot.</summary>
    public sealed class JobJournalActor : ReceivePersistentActor
    {
        private readonly List<int> _layers = [];
        private bool _fromSnapshot;
        private IActorRef? _snapshotAsker;

        public JobJournalActor(string id)
        {
            PersistenceId = id;
            Recover<SnapshotOffer>(o =>
            {
                var s = (JobAccepted)o.Snapshot;
                _layers.AddRange(Enumerable.Range(0, s.NextLayer));
                _fromSnapshot = true;
            });
            Recover<LayerStarted>(e => _layers.Add(e.Layer));
            Command<LayerStarted>(e => Persist(e, ev =>
            {
                _layers.Add(ev.Layer);
                Sender.Tell(ev);
            }));
            Command<string>(s => s == "state", _ => Sender.Tell(new JournalState(_layers.ToArray(), _fromSnapshot, LastSequenceNr)));
            Command<string>(s => s == "snap", _ =>
            {
                _snapshotAsker = Sender;
                SaveSnapshot(new JobAccepted(PersistenceId, _layers.Count));
            });
            Command<SaveSnapshotSuccess>(m => _snapshotAsker?.Tell(m.Metadata.SequenceNr));
            Command<SaveSnapshotFailure>(m => _snapshotAsker?.Tell(new Status.Failure(m.Cause)));
        }

        public override string PersistenceId { get; }
    }

    [Fact]
    public async Task Events_and_snapshots_in_a_SQLite_file_survive_the_runtime()
    {
        var settings = _folder.Settings();
        await EventsAndSnapshotsSurvive(settings, "job-persist-1");
        Assert.True(File.Exists(settings.SqliteJournalPath));
    }

    /// <summary>The same on PostgreSQL (the cluster journal), on a private server the test starts and deletes
    /// (<see cref="PrivatePostgres"/>; needs Debian's postgresql package, which .ci/run installs).</summary>
    [Fact]
    public async Task Events_and_snapshots_in_a_private_PostgreSQL_survive_the_runtime()
    {
        var started = Stopwatch.StartNew();
        var server = await PrivatePostgres.StartAsync();
        var startTime = started.Elapsed;
        try
        {
            var settings = _folder.Settings() with { PostgresConnectionString = server.ConnectionString };
            Assert.Equal(RuntimeConfig.PostgresProviderName, RuntimeConfig.Build(settings).GetString("akka.persistence.journal.sql.provider-name"));
            await EventsAndSnapshotsSurvive(settings, "job-persist-" + Guid.NewGuid().ToString("N"));
            Assert.False(File.Exists(settings.SqliteJournalPath));
        }
        finally
        {
            var stopping = Stopwatch.StartNew();
            await server.DisposeAsync();
            _output.WriteLine($"private PostgreSQL on port {server.Port}: started in {startTime.TotalMilliseconds:0} ms, stopped and deleted in {stopping.Elapsed.TotalMilliseconds:0} ms");
        }
        Assert.False(Directory.Exists(server.Folder));
    }

    private static async Task EventsAndSnapshotsSurvive(RuntimeSettings settings, string id)
    {

        await using (var node = await OffloadRuntime.StartAsync(settings))
        {
            var actor = node.System.ActorOf(Props.Create(() => new JobJournalActor(id)));
            for (var layer = 0; layer < 3; layer++)
                Assert.Equal(layer, (await actor.Ask<LayerStarted>(new LayerStarted(id, layer, 1, "node-1"), Ask)).Layer);
        }

        await using (var node = await OffloadRuntime.StartAsync(settings))
        {
            var actor = node.System.ActorOf(Props.Create(() => new JobJournalActor(id)));
            var state = await actor.Ask<JournalState>("state", Ask);
            Assert.Equal([0, 1, 2], state.Layers);
            Assert.False(state.FromSnapshot);
            Assert.Equal(3, state.LastSequenceNr);
            Assert.Equal(3L, await actor.Ask<long>("snap", Ask));
            await actor.Ask<LayerStarted>(new LayerStarted(id, 3, 2, "node-1"), Ask);
        }

        await using (var node = await OffloadRuntime.StartAsync(settings))
        {
            var actor = node.System.ActorOf(Props.Create(() => new JobJournalActor(id)));
            var state = await actor.Ask<JournalState>("state", Ask);
            Assert.Equal([0, 1, 2, 3], state.Layers);
            Assert.True(state.FromSnapshot);
            Assert.Equal(4, state.LastSequenceNr);
        }
    }
}
