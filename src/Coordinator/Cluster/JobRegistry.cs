using Akka.Actor;
using Akka.Cluster;
using Akka.Persistence;
using Offload.Coordinator.Job;
using Offload.Protocol.Messages;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// The coordinator singleton of a cluster (role "coordinator"): an event-sourced registry of the submitted jobs that runs
/// one <see cref="JobCoordinator"/> child per running job — the same state machine as one process, with a
/// <see cref="ClusterLayerPipeline"/>. Its events (<see cref="JobSubmittedEvent"/>, <see cref="JobEndedEvent"/>) and the
/// children's go to the cluster's journal (PostgreSQL, or a SQLite file on one machine). When the node hosting it dies,
/// the singleton starts on the next oldest coordinator node, replays, and restarts every unfinished job's coordinator,
/// which replays its own events and continues after its last committed layer.
/// <para>A submission with <see cref="JobSpec.Resume"/> continues the recorded incarnation of its id (or attaches to it
/// while it runs); without, it starts the next incarnation (a fresh persistence id). Clients poll with
/// <see cref="JobStatusQuery"/>: polling survives the singleton's move, a reply to a dead client does not matter.</para>
/// </summary>
internal sealed class JobRegistry : ReceivePersistentActor
{
    public const string RegistryPersistenceId = "offload-jobs";

    private readonly ClusterJobServices _services;
    private readonly Dictionary<string, Entry> _jobs = new(StringComparer.Ordinal);

    private sealed class Entry(JobSpec spec, int incarnation)
    {
        public JobSpec Spec { get; set; } = spec;
        public int Incarnation { get; set; } = incarnation;
        public string State { get; set; } = JobStatus.Running;
        public string Detail { get; set; } = "";
        public IActorRef? Coordinator { get; set; }
        public IJobPipeline? Pipeline { get; set; }
        public JobCoordinator.Progress Progress { get; set; } = new(0, []);
    }

    private sealed record CoordinatorEnded(string JobId, int Incarnation, string? Error, bool Fenced = false);

    public JobRegistry(ClusterJobServices services)
    {
        _services = services;
        Recover<JobSubmittedEvent>(e => _jobs[e.Spec.JobId] = new Entry(e.Spec, e.Incarnation));
        Recover<JobEndedEvent>(e =>
        {
            if (!_jobs.TryGetValue(e.JobId, out var entry)) return;
            entry.State = e.Succeeded ? JobStatus.Finished : JobStatus.Failed;
            entry.Detail = e.Detail;
        });
        Recover<RecoveryCompleted>(_ =>
        {
            foreach (var entry in _jobs.Values.Where(j => j.State == JobStatus.Running).ToList())
            {
                _services.Log?.WriteLine($"{_services.NodeId}: coordinator resumes job {entry.Spec.JobId} (incarnation {entry.Incarnation})");
                StartCoordinator(entry);
            }
        });
        Command<SubmitJob>(OnSubmit);
        Command<JobStatusQuery>(OnStatus);
        Command<CoordinatorEnded>(OnEnded);
        Command<JobCoordinator.Progress>(p =>
        {
            foreach (var entry in _jobs.Values)
                if (Equals(entry.Coordinator, Sender)) entry.Progress = p;
        });
    }

    public override string PersistenceId => RegistryPersistenceId;

    public static Props Props(ClusterJobServices services) => Akka.Actor.Props.Create(() => new JobRegistry(services));

    private void OnSubmit(SubmitJob m)
    {
        var spec = m.Spec;
        var sender = Sender;
        if (_jobs.TryGetValue(spec.JobId, out var known) && spec.Resume)
        {
            if (known.State == JobStatus.Failed)
            {
                // Continue the recorded incarnation: its coordinator replays its events and goes on after the last committed layer.
                Persist(new JobSubmittedEvent(spec, known.Incarnation), e =>
                {
                    known.Spec = e.Spec;
                    known.State = JobStatus.Running;
                    known.Detail = "";
                    StartCoordinator(known);
                    sender.Tell(new JobAccepted(spec.JobId, 0));
                });
                return;
            }
            sender.Tell(new JobAccepted(spec.JobId, 0)); // running (attach) or finished
            return;
        }
        if (known is { State: JobStatus.Running, Coordinator: not null })
        {
            sender.Tell(new JobStatus(spec.JobId, JobStatus.Failed, $"job {spec.JobId} is running now; wait for it or pass --resume to follow it", 0, [], _services.NodeId));
            return;
        }
        var incarnation = (known?.Incarnation ?? 0) + 1;
        Persist(new JobSubmittedEvent(spec, incarnation), e =>
        {
            var entry = new Entry(e.Spec, e.Incarnation);
            _jobs[spec.JobId] = entry;
            StartCoordinator(entry);
            sender.Tell(new JobAccepted(spec.JobId, 0));
        });
    }

    private void StartCoordinator(Entry entry)
    {
        var spec = entry.Spec;
        var incarnation = entry.Incarnation;
        var self = Self;
        try
        {
            var (pipeline, journal, space, fingerprint) = _services.Build(spec);
            var done = new TaskCompletionSource<LayerwiseEvalReport>(TaskCreationOptions.RunContinuationsAsynchronously);
            var persistenceId = $"offload-job-{spec.JobId}-{incarnation}";
            var child = Context.ActorOf(Akka.Actor.Props.Create(() => new JobCoordinator(fingerprint, pipeline, journal, space, done, persistenceId, true)),
                $"{spec.JobId}-{incarnation}-{Guid.NewGuid().ToString("N")[..6]}");
            entry.Coordinator = child;
            entry.Pipeline = pipeline;
            child.Tell(JobCoordinator.Run.Instance);
            done.Task.ContinueWith(t => self.Tell(new CoordinatorEnded(spec.JobId, incarnation,
                t.IsCompletedSuccessfully ? null : t.Exception?.GetBaseException().Message ?? "cancelled",
                t.Exception?.GetBaseException() is CoordinatorFencedException)), TaskScheduler.Default);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            self.Tell(new CoordinatorEnded(spec.JobId, incarnation, ex.Message));
        }
    }

    private void OnEnded(CoordinatorEnded m)
    {
        if (!_jobs.TryGetValue(m.JobId, out var entry) || entry.Incarnation != m.Incarnation || entry.State != JobStatus.Running) return;
        var pipeline = entry.Pipeline;
        entry.Coordinator = null;
        entry.Pipeline = null;
        if (pipeline is not null) _ = pipeline.DisposeAsync().AsTask();
        _services.Log?.WriteLine(m.Error is null ? $"job {m.JobId} finished" : $"job {m.JobId} failed: {m.Error}");
        // Fenced: this node is no longer in the cluster's majority; the singleton runs elsewhere and records the job there.
        if (m.Fenced) return;
        Persist(new JobEndedEvent(m.JobId, m.Error is null, m.Error ?? ""), e =>
        {
            entry.State = e.Succeeded ? JobStatus.Finished : JobStatus.Failed;
            entry.Detail = e.Detail;
        });
    }

    private void OnStatus(JobStatusQuery q)
    {
        if (!_jobs.TryGetValue(q.JobId, out var entry))
        {
            Sender.Tell(new JobStatus(q.JobId, JobStatus.Unknown, "", 0, [], _services.NodeId));
            return;
        }
        Sender.Tell(new JobStatus(q.JobId, entry.State, entry.Detail, entry.Progress.Committed, entry.Progress.Nodes, _services.NodeId));
    }

    protected override void PostStop()
    {
        foreach (var entry in _jobs.Values)
            if (entry.Pipeline is { } p) _ = p.DisposeAsync().AsTask();
        base.PostStop();
    }
}
