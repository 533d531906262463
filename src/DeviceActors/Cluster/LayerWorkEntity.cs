using Offload.Compression.Sequential;
using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Offload.Model.Naming;
using Offload.Protocol;
using Offload.Protocol.Messages;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.DeviceActors.Cluster;

/// <summary>
/// The entity "{job}/layer-{l}" of the shard region "layer-work": runs one layer's sequential epoch of a job on this
/// node, through the same code as one process — a <see cref="LayerShard"/> replica per device (batch b on device b mod D),
/// the job's modifiers at SEQUENTIAL_EPOCH_END through an <see cref="Offload.Compression.Sequential.ILayerContext"/>, and
/// a second pass over every batch when a modifier replaced a parameter (error propagation).
/// <code>
///  RunLayer ─► LayerStarted (the coordinator death-watches this entity) ─► pull inputs (HTTP/2, verified)
///      ─► forward every batch ─► modifiers ─► [re-run if modified]
///      ─► serve outputs, replaced parameters and the modifiers' state files on this node's data plane ─► LayerDone
/// </code>
/// A result is kept per attempt: the same request asked again (its first LayerStarted was lost) is answered from it or
/// joins the run in progress. Failures are answered with <see cref="LayerFailed"/> (the coordinator decides). A node
/// that was downed (<see cref="LayerWorkHost.Downed"/>) publishes and answers nothing.
/// </summary>
internal sealed class LayerWorkEntity : ReceiveActor
{
    private readonly LayerWorkHost _host;
    private readonly string _entityId;
    private readonly Dictionary<int, object> _done = new();
    private readonly Dictionary<int, List<IActorRef>> _running = new();

    public LayerWorkEntity(LayerWorkHost host, string entityId)
    {
        _host = host;
        _entityId = entityId;
        Receive<RunLayer>(OnRun);
        Receive<Ran>(OnRan);
    }

    private sealed record Ran(RunLayer Run, LayerDone? Done, Exception? Error);

    private void OnRun(RunLayer run)
    {
        if (_host.Downed) return;
        Sender.Tell(new LayerStarted(run.Spec.JobId, run.Layer, run.Attempt, _host.NodeId));
        if (_done.TryGetValue(run.Attempt, out var earlier))
        {
            Sender.Tell(earlier);
            return;
        }
        if (_running.TryGetValue(run.Attempt, out var waiting))
        {
            waiting.Add(Sender);
            return;
        }
        _running[run.Attempt] = [Sender];
        var redone = run.Attempt > 1;
        if (redone)
        {
            // An earlier attempt was lost with its node (or its outputs could not be pulled): the work is redone here.
            OffloadTelemetry.ClusterLayersRedoneCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, run.Spec.Kind));
            Activity.Current?.AddEvent(new ActivityEvent("redone"));
        }
        _host.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{_host.NodeId}: running layer {run.Layer} of {run.Spec.JobId} (attempt {run.Attempt}{(redone ? ", redelivered: redoing the work of a lost node" : "")})"));
        var self = Self;
        var requester = Sender;
        Task.Run(() => RunAsync(run, requester, redone ? ":redelivered" : "")).ContinueWith(t =>
            self.Tell(new Ran(run, t.IsCompletedSuccessfully ? t.Result : null, t.Exception?.GetBaseException())), TaskScheduler.Default);
    }

    private void OnRan(Ran ran)
    {
        var run = ran.Run;
        if (_host.Downed || ran.Error is LayerDroppedException)
        {
            _running.Remove(run.Attempt);
            _host.Log?.WriteLine(ran.Error?.Message ?? $"{_host.NodeId}: layer {run.Layer} dropped (this node was downed)");
            return;
        }
        object answer;
        if (ran.Done is { } done)
        {
            _host.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{_host.NodeId}: layer {run.Layer} of {run.Spec.JobId} done in {done.ComputeSeconds:F3} s"));
            answer = done;
        }
        else
        {
            var e = ran.Error!;
            var reason = e is OffloadException ? e.Message : $"{e.Message} ({e.GetType().Name})";
            _host.Log?.WriteLine($"{_host.NodeId}: layer {run.Layer} of {run.Spec.JobId} failed: {reason}");
            answer = new LayerFailed(run.Spec.JobId, run.Layer, run.Attempt, _host.NodeId, reason);
        }
        _done[run.Attempt] = answer;
        if (_running.Remove(run.Attempt, out var waiting))
            foreach (var w in waiting) w.Tell(answer);
    }

    /// <param name="pointSuffix">appended to the <see cref="LayerWorkHost.Point"/> names (":redelivered" for work redone).</param>
    /// <summary>How long the entity waits for the coordinator's <see cref="LayerConfirm"/> before it drops its result.</summary>
    public static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(10);

    private async Task<LayerDone> RunAsync(RunLayer run, IActorRef requester, string pointSuffix)
    {
        var sw = Stopwatch.StartNew();
        var model = _host.Open(run.Spec);
        var config = model.Config;
        var l = run.Layer;
        if (l < 0 || l >= config.NumHiddenLayers) throw new ArgumentOutOfRangeException(nameof(run), $"layer {l} is outside 0..{config.NumHiddenLayers - 1}");
        // Scoped by the job: two jobs on this node's devices at once must not share the layer's device blocks (the
        // device would hand one job the other's copy, e.g. the weights it has just quantized).
        var spec = ShardSpec.Decoder(config, l) with { Scope = run.Spec.JobId };
        var system = _host.Devices[0].System; // the replicas live in the devices' Akka.NET actor system
        var inputs = new List<Tensor>();
        var outputs = new List<Tensor>();
        var replicas = new List<IActorRef>();
        using var parameters = new ShardParameters(spec.Name, ModuleTree.LayerParameters(config, l).Select(p => (p.Name, model.Checkpoint.Get(p.Name))).ToList());
        var leases = new List<DeviceLease>();
        try
        {
            foreach (var r in run.Inputs) inputs.Add(await _host.Client.PullAsync(r).ConfigureAwait(false)); // [rows, seq, hidden] f32
            _host.Point?.Invoke(string.Create(CultureInfo.InvariantCulture, $"node-layer:{l}:started{pointSuffix}"));
            var devices = _host.Devices.Take(Math.Max(1, Math.Min(_host.Devices.Count, inputs.Count))).ToList();
            var rows = inputs.Count == 0 ? 1 : (int)inputs.Max(t => t.Dim(0));
            var weightDType = model.Checkpoint.Descriptor(ModuleNames.Weight(ModuleNames.QProj(l))).DType;
            var workspace = ForwardWorkspace.Decoder(config, weightDType, rows, run.Spec.SeqLen);
            var owner = string.Create(CultureInfo.InvariantCulture, $"#workspace-{run.Spec.JobId}-{l}-{run.Attempt}");
            foreach (var d in devices) leases.Add(await d.ReserveAsync(owner, "forward", workspace).ConfigureAwait(false));
            // Top-level actors on purpose: this runs on a task off the entity's thread (no actor context here).
#pragma warning disable AK1008
            foreach (var d in devices)
                replicas.Add(system.ActorOf(LayerShard.Props(spec, parameters, d, model.Rope, model.Hooks), $"{spec.Name}@{d.Device}-a{run.Attempt}-{Guid.NewGuid().ToString("N")[..6]}"));
#pragma warning restore AK1008

            await ForwardAllAsync(replicas, inputs, outputs, CompositeCapture.For(model.Listeners, l)).ConfigureAwait(false);
            var context = new RemoteLayerContext(l, parameters, inputs, outputs, devices[0].Transforms);
            foreach (var listener in model.Listeners) listener.OnSequentialEpochEnd(l, context);
            if (context.Replaced.Count > 0 && !run.Spec.NoPropagate)
            {
                // Error propagation: the next layer sees the outputs of the modified layer.
                await Task.WhenAll(replicas.Select(r => r.Ask<LayerShard.Offloaded>(new LayerShard.Offload(Drop: true), Timeout.InfiniteTimeSpan))).ConfigureAwait(false);
                foreach (var t in outputs) t.Dispose();
                outputs.Clear();
                await ForwardAllAsync(replicas, inputs, outputs, null).ConfigureAwait(false);
            }
            await Task.WhenAll(replicas.Select(r => r.Ask<LayerShard.Offloaded>(new LayerShard.Offload(Drop: true), Timeout.InfiniteTimeSpan))).ConfigureAwait(false);
            _host.Point?.Invoke(string.Create(CultureInfo.InvariantCulture, $"node-layer:{l}:computed{pointSuffix}"));

            var prefix = string.Create(CultureInfo.InvariantCulture, $"{run.Spec.JobId}/layer-{l}/a{run.Attempt}");
            // The fence: a node the cluster downed meanwhile (e.g. it was frozen) cannot reach the coordinator, or is refused,
            // and cannot read from a majority of the members (which also covers a coordinator on this very node).
            LayerConfirm confirm;
            try
            {
                confirm = await requester.Ask<LayerConfirm>(new LayerConfirm(run.Spec.JobId, l, run.Attempt, _host.NodeId, false), ConfirmTimeout).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                confirm = new LayerConfirm(run.Spec.JobId, l, run.Attempt, _host.NodeId, false);
            }
            if (!confirm.Granted || _host.Downed || !await Runtime.MajorityFence.ConfirmAsync(system).ConfigureAwait(false))
                throw new LayerDroppedException($"node {_host.NodeId}: layer {l} (attempt {run.Attempt}) was not confirmed by the coordinator — this node was downed or the layer runs elsewhere; its result is dropped");
            var outputRefs = new List<TensorRef>(outputs.Count);
            for (var b = 0; b < outputs.Count; b++)
                outputRefs.Add(_host.Store.Publish(string.Create(CultureInfo.InvariantCulture, $"{prefix}/out/{b}"), "hidden", outputs[b]));
            var replaced = new List<TensorRef>();
            foreach (var name in context.Replaced)
            {
                using var value = parameters.Get(name);
                replaced.Add(_host.Store.Publish($"{prefix}/param/{name}", name, value));
            }
            // The modifiers' state of this layer (e.g. GPTQ results): served as bytes for the coordinator to write, then
            // deleted here.
            var stateFiles = new List<TensorRef>();
            var staging = _host.StagingDir(run.Spec.JobId);
            var layerTag = string.Create(CultureInfo.InvariantCulture, $"layer-{l:D5}");
            if (Directory.Exists(staging))
            {
                foreach (var file in Directory.GetFiles(staging).Where(f => Path.GetFileName(f).StartsWith(layerTag, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
                {
                    var bytes = File.ReadAllBytes(file);
                    using var t = Tensor.FromSpan<byte>(bytes, bytes.LongLength);
                    stateFiles.Add(_host.Store.Publish($"{prefix}/state/{Path.GetFileName(file)}", Path.GetFileName(file), t));
                    File.Delete(file);
                }
            }
            // Outputs of layers two back are pulled and committed by the coordinator by now.
            _host.Store.RemoveAll(string.Create(CultureInfo.InvariantCulture, $"{run.Spec.JobId}/layer-{l - 2}/"));
            var done = new LayerDone(run.Spec.JobId, l, run.Attempt, _host.NodeId, outputRefs, replaced, sw.Elapsed.TotalSeconds, stateFiles);
            return done;
        }
        finally
        {
            foreach (var r in replicas) system.Stop(r);
            foreach (var lease in leases) lease.Dispose();
            foreach (var t in inputs) t.Dispose();
            foreach (var t in outputs) t.Dispose();
        }
    }

    /// <summary>Batch b on replica b mod D, each replica's batches in order; outputs in batch order; the capture (calibration pass) or null.</summary>
    private static async Task ForwardAllAsync(IReadOnlyList<IActorRef> replicas, IReadOnlyList<Tensor> inputs, List<Tensor> outputs, ICalibrationCapture? capture)
    {
        var results = new Tensor?[inputs.Count];
        await Task.WhenAll(Enumerable.Range(0, replicas.Count).Select(async d =>
        {
            for (var b = d; b < inputs.Count; b += replicas.Count)
            {
                var done = await replicas[d].Ask<LayerShard.ForwardDone>(new LayerShard.Forward(b, inputs[b], capture), Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                results[b] = done.Output;
            }
        })).ConfigureAwait(false);
        outputs.AddRange(results.Select(t => t!));
    }
}

/// <summary>A finished layer the coordinator did not confirm: nothing is published or answered.</summary>
internal sealed class LayerDroppedException(string message) : Exception(message);
