using System.Globalization;
using Akka.Actor;
using Offload.Coordinator.Job;
using Offload.Protocol.Messages;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// One layer asked of the shard region "layer-work" until it is done, wherever it ends up running:
/// <code>
///  RunLayer(attempt a) ─► region ─► entity ─► LayerStarted (watch the entity) ─► … ─► LayerDone ─► done
///        ▲  no LayerStarted within AckTimeout: ask again (same attempt — the request or the answer was lost)
///        └─ Terminated(entity): its node was downed or its shard handed off: ask again with attempt a+1
///  LayerConfirm from an entity about to publish: granted unless its node was declared gone (the fence)
/// </code>
/// The region gives the shard of a downed node a new home, so the next attempt runs on a survivor. Results do not depend
/// on where or how often a layer runs (the forward is deterministic), so any LayerDone is taken.
/// </summary>
internal sealed class LayerRequest : ReceiveActor, IWithTimers
{
    /// <summary>How long to wait for the entity's <see cref="LayerStarted"/> before asking again.</summary>
    public static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(1);

    private readonly IActorRef _region;
    private readonly TaskCompletionSource<LayerDone> _done;
    private readonly TextWriter? _log;
    private RunLayer _run;
    private IActorRef? _watched;
    private readonly HashSet<Address> _lost = [];

    public LayerRequest(IActorRef region, RunLayer run, TaskCompletionSource<LayerDone> done, TextWriter? log)
    {
        _region = region;
        _run = run;
        _done = done;
        _log = log;
        Receive<LayerStarted>(OnStarted);
        Receive<NoAnswer>(_ => Send());
        Receive<Terminated>(OnTerminated);
        Receive<LayerConfirm>(c => Sender.Tell(c with { Granted = !_lost.Contains(Sender.Path.Address) }));
        Receive<LayerDone>(d =>
        {
            _done.TrySetResult(d);
            Context.Stop(Self);
        });
        Receive<LayerFailed>(f =>
        {
            _done.TrySetException(new JobException($"layer {f.Layer} failed on node {f.NodeId}: {f.Reason}"));
            Context.Stop(Self);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef region, RunLayer run, TaskCompletionSource<LayerDone> done, TextWriter? log) =>
        Akka.Actor.Props.Create(() => new LayerRequest(region, run, done, log));

    protected override void PreStart() => Send();

    protected override void PostStop() => _done.TrySetException(new JobException($"layer {_run.Layer}: the coordinator stopped while the layer ran"));

    private void Send()
    {
        _region.Tell(_run);
        Timers.StartSingleTimer("ack", NoAnswer.Instance, AckTimeout);
    }

    private void OnStarted(LayerStarted s)
    {
        if (s.Attempt != _run.Attempt) return;
        Timers.Cancel("ack");
        if (Equals(_watched, Sender)) return;
        if (_watched is not null) Context.Unwatch(_watched);
        _watched = Sender;
        Context.Watch(Sender);
        _log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"layer {s.Layer}: running on {s.NodeId} (attempt {s.Attempt})"));
    }

    private void OnTerminated(Terminated t)
    {
        if (!Equals(t.ActorRef, _watched)) return;
        _watched = null;
        if (t.AddressTerminated) _lost.Add(t.ActorRef.Path.Address);
        _run = _run with { Attempt = _run.Attempt + 1 };
        OffloadTelemetry.ClusterLayersRedoneCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, _run.Spec.Kind));
        _log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"layer {_run.Layer}: the node running it is gone ({t.ActorRef.Path.Address}); asking again (attempt {_run.Attempt})"));
        Send();
    }

    private sealed class NoAnswer
    {
        public static readonly NoAnswer Instance = new();
    }
}
