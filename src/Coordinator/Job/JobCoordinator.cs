using System.Globalization;
using Akka.Actor;
using Akka.Persistence;
using Offload.Protocol.Messages;

namespace Offload.Coordinator.Job;

/// <summary>
/// The job coordinator: an event-sourced actor that runs the sequential layer-wise state machine — embed (or load the
/// last committed layer's outputs), then per layer: run (calibrate, SEQUENTIAL_EPOCH_END, propagate), commit the
/// outputs to the journal folder and persist <see cref="LayerCommittedEvent"/>, advance — then the head and finalize. The
/// events (<see cref="JobStartedEvent"/> with the job's identity, <see cref="LayerCommittedEvent"/> with the content hash
/// of the file it wrote, <see cref="JobFinishedEvent"/>; MessagePack records of Protocol) are its whole state: <c>--resume</c> is a replay, and a committed layer's
/// file is checked against its hash before it is used. Bulk data stays in files; events carry names and hashes only.
/// <code>
///  Run ─► [persist JobStarted] ─► Started ─► LayerRan(l) ─► write acts-l ─► persist LayerCommitted(l) ─► … ─► Finished ─► persist JobFinished ─► report
/// </code>
/// Every step's work runs off the actor (piped back as a message), so the actor only sequences and records.
/// </summary>
internal sealed class JobCoordinator : ReceivePersistentActor
{
    /// <summary>One job per work folder (its journal database) in one process: the persistence id is fixed there; in a
    /// cluster each job's coordinator has its own ("offload-job-{id}-{incarnation}", see <see cref="Cluster.JobRegistry"/>).</summary>
    public const string JobPersistenceId = "offload-job";

    private readonly JobFingerprint _fingerprint;
    private readonly IJobPipeline _pipeline;
    private readonly JobJournal? _journal;
    private readonly ActivationSpace _space;
    private readonly ActorSystem _system;
    private JobStartedEvent? _started;
    private LayerCommittedEvent? _last;
    private readonly TaskCompletionSource<LayerwiseEvalReport> _done;

    /// <param name="done">completed with the job's report, or faulted with its exception (also when the actor stops early).</param>
    public JobCoordinator(JobFingerprint fingerprint, IJobPipeline pipeline, JobJournal? journal, ActivationSpace space, TaskCompletionSource<LayerwiseEvalReport> done,
        string persistenceId = JobPersistenceId, bool reportProgress = false)
    {
        PersistenceId = persistenceId;
        _reportProgress = reportProgress;
        _done = done;
        _fingerprint = fingerprint;
        _pipeline = pipeline;
        _journal = journal;
        _space = space;
        _system = Context.System;
        Recover<JobStartedEvent>(e => _started = e);
        Recover<LayerCommittedEvent>(e =>
        {
            _last = e;
            _nodes.Add(e.NodeId);
        });
        Recover<JobFinishedEvent>(_ => { });
        Command<Run>(_ => Guarded(OnRun));
        Command<Started>(_ => Guarded(NextStep));
        Command<LayerRan>(m => Guarded(() => OnLayerRan(m)));
        Command<LayerwiseEvalReport>(r => Guarded(() => Persist(new JobFinishedEvent(_pipeline.Layers), _ => Reply(r))));
        Command<Status.Failure>(f => Fail(f.Cause));
        Command<GetProgress>(_ => Sender.Tell(new Progress(NextLayer, _nodes.ToArray())));
    }

    public override string PersistenceId { get; }

    /// <summary>Layers committed so far and the node that ran each ("" in one process); for status queries.</summary>
    public sealed record Progress(int Committed, IReadOnlyList<string> Nodes);

    /// <summary>Asks for <see cref="Progress"/>.</summary>
    public sealed record GetProgress
    {
        public static readonly GetProgress Instance = new();
    }

    private readonly List<string> _nodes = [];
    private readonly bool _reportProgress;

    /// <summary>With reportProgress (a cluster job), the parent gets <see cref="Progress"/> after the replay and every commit.</summary>
    private void ReportProgress()
    {
        if (_reportProgress) Context.Parent.Tell(new Progress(NextLayer, _nodes.ToArray()));
    }

    // ---- commands (this process only) and events ---------------------------------------------------------------

    /// <summary>Run the job; the outcome completes the task given at creation.</summary>
    public sealed record Run
    {
        public static readonly Run Instance = new();
    }

    private sealed record Started
    {
        public static readonly Started Instance = new();
    }

    private sealed record LayerRan(int Layer, ActivationSet Outputs);

    // ---- state machine -------------------------------------------------------------------------------------------

    private int NextLayer => _last is null ? 0 : _last.Layer + 1;

    private void OnRun()
    {
        if (_started is null)
        {
            Persist(new JobStartedEvent(_fingerprint.Model, _fingerprint.Job, _fingerprint.Code, _pipeline.Layers, _pipeline.Batches), e =>
            {
                _started = e;
                Guarded(Begin);
            });
            return;
        }
        var stored = new JobFingerprint(_started.Model, _started.Job, _started.Code);
        var diff = stored.FirstDifference(_fingerprint);
        if (diff is not null || _started.Layers != _pipeline.Layers || _started.Batches != _pipeline.Batches)
            throw new JobException($"{_journal?.Dir ?? "journal"}: the recorded job differs in its {diff ?? "layer or batch count"}; delete the output folder or choose another --out to start afresh");
        Begin();
    }

    private void Begin()
    {
        ReportProgress();
        var first = NextLayer;
        ActivationSet? resumed = null;
        if (first > 0)
        {
            if (_journal is null || _last!.Activations.Length == 0)
                throw new JobException("the recorded job has committed layers but no journal folder holds their outputs; start afresh without --resume");
            resumed = _journal.LoadActivations(_space, _last.Activations, _last.Sha256);
        }
        var self = Self;
        _pipeline.StartAsync(first, resumed, _space, _system).PipeTo(self, success: () => Started.Instance);
    }

    private void NextStep()
    {
        var self = Self;
        var l = NextLayer;
        if (l < _pipeline.Layers) _pipeline.RunLayerAsync(l).PipeTo(self, success: outputs => new LayerRan(l, outputs));
        else _pipeline.FinishAsync().PipeTo(self);
    }

    private void OnLayerRan(LayerRan m)
    {
        string name = "", sha = "";
        try
        {
            if (_journal is not null)
            {
                var journal = _journal;
                (name, sha) = _pipeline.InLayer(m.Layer, Protocol.Telemetry.OffloadTelemetry.Phases.Save, () => journal.WriteActivations(m.Layer, m.Outputs));
            }
            JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{m.Layer}:before-progress"));
        }
        catch
        {
            m.Outputs.Dispose();
            throw;
        }
        Persist(new LayerCommittedEvent(m.Layer, name, sha, _pipeline.LastLayerNode), e => Guarded(() =>
        {
            var previous = _last?.Activations;
            _last = e;
            _nodes.Add(e.NodeId);
            ReportProgress();
            if (_journal is not null && !string.IsNullOrEmpty(previous) && previous != e.Activations) _journal.Delete(previous);
            _pipeline.Advance(e.Layer, m.Outputs);
            NextStep();
        }));
    }

    // ---- replies and failures ------------------------------------------------------------------------------------

    private void Reply(LayerwiseEvalReport report)
    {
        _done.TrySetResult(report);
        Context.Stop(Self);
    }

    /// <summary>Any exception ends the job: the caller gets it, the actor stops (no restart: the job is over).</summary>
    private void Guarded(Action step)
    {
        try
        {
            step();
        }
        catch (Exception ex)
        {
            Fail(ex);
        }
    }

    private void Fail(Exception ex)
    {
        _done.TrySetException(ex);
        Context.Stop(Self);
    }

    protected override void PostStop()
    {
        _done.TrySetException(new JobException("the job coordinator stopped before the job ended"));
        base.PostStop();
    }

    // A failure during the run (exit 1): disk full is said as such, with the fix.
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr) =>
        Fail(new JobRunFailedException(IsNoSpace(cause)
            ? $"no space left on {_journal?.Dir ?? "the journal's disk"}: free space, then --resume"
            : $"{_journal?.Dir ?? "journal"}: could not record the job's progress ({cause.Message.Split('\n')[0]}); free space or check the folder, then --resume"));

    private static bool IsNoSpace(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if ((e is IOException io && ErrorText.IsNoSpace(io)) || e.Message.Contains("SQLITE_FULL", StringComparison.Ordinal) || e.Message.Contains("disk is full", StringComparison.OrdinalIgnoreCase))
                return true;
        return false;
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null) =>
        Fail(new JournalDamagedException($"{_journal?.Dir ?? "journal"}: the job's record could not be read ({reason.Message.Split('\n')[0]}); delete the output folder to start afresh"));
}
