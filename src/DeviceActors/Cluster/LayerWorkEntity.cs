using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Offload.Actors.Cluster;
using ReceiveActor = Offload.Actors.ReceiveActor;
using Status = Offload.Actors.Status;
using Offload.Model.Naming;
using Offload.Protocol.Cluster;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.DeviceActors.Cluster;

/// <summary>
/// The sharded entity "{job}/layer-{l}": runs one layer's sequential epoch of a job on this node, through the same
/// code as one process — a <see cref="LayerShard"/> replica per device (batch b on device b mod D), the job's
/// modifiers at SEQUENTIAL_EPOCH_END through an <see cref="Offload.Compression.Sequential.ILayerContext"/>, and a
/// second pass over every batch when a modifier replaced a parameter (error propagation).
/// <code>
///  RunLayer(inputs as TensorRefs) ─► pull inputs (HTTP/2, verified) ─► forward every batch ─► modifiers
///      ─► [re-run if modified] ─► publish outputs and replaced parameters on this node's data plane ─► LayerDone
/// </code>
/// A result is kept per (layer, attempt): the same request delivered again (a broker restart while it ran) is
/// answered from it instead of computing twice. Failures are answered with <see cref="LayerFailed"/> (the driver
/// decides), not retried by the transport.
/// </summary>
internal sealed class LayerWorkEntity : ReceiveActor
{
    private readonly LayerWorkHost _host;
    private readonly string _entityId;
    private readonly Dictionary<int, LayerDone> _done = new();

    public LayerWorkEntity(LayerWorkHost host, string entityId)
    {
        _host = host;
        _entityId = entityId;
        ReceiveAsync<ClusterDelivery>(OnDelivery);
    }

    private async Task OnDelivery(ClusterDelivery delivery)
    {
        var sender = Sender;
        if (delivery.Payload is not RunLayer run)
        {
            sender.Tell(new Status.Failure(new InvalidOperationException($"layer entity {_entityId} does not handle {delivery.Envelope.Type}")), Self);
            return;
        }
        if (_done.TryGetValue(run.Attempt, out var earlier))
        {
            sender.Tell(earlier, Self);
            return;
        }
        if (delivery.Redelivered)
        {
            // The node that had this message died or handed the shard off before answering: the work is redone here.
            OffloadTelemetry.ClusterLayersRedoneCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, run.Spec.Kind));
            Activity.Current?.AddEvent(new ActivityEvent("redone"));
        }
        _host.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{_host.NodeId}: running layer {run.Layer} of {run.Spec.JobId} (attempt {run.Attempt}{(delivery.Redelivered ? ", redelivered: redoing the work of a lost node" : "")})"));
        try
        {
            var done = await RunAsync(run, delivery.Redelivered ? ":redelivered" : "").ConfigureAwait(false);
            _done[run.Attempt] = done;
            _host.Log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{_host.NodeId}: layer {run.Layer} of {run.Spec.JobId} done in {done.ComputeSeconds:F3} s"));
            sender.Tell(done, Self);
        }
        catch (Exception ex)
        {
            sender.Tell(new LayerFailed
            {
                JobId = run.Spec.JobId,
                Layer = run.Layer,
                Attempt = run.Attempt,
                NodeId = _host.NodeId,
                Reason = $"{ex.GetType().Name}: {ex.Message}",
            }, Self);
        }
    }

    /// <param name="pointSuffix">appended to the <see cref="LayerWorkHost.Point"/> names (":redelivered" for work redone).</param>
    private async Task<LayerDone> RunAsync(RunLayer run, string pointSuffix)
    {
        var sw = Stopwatch.StartNew();
        var model = _host.Open(run.Spec);
        var config = model.Config;
        var l = run.Layer;
        if (l < 0 || l >= config.NumHiddenLayers) throw new ArgumentOutOfRangeException(nameof(run), $"layer {l} is outside 0..{config.NumHiddenLayers - 1}");
        var spec = ShardSpec.Decoder(config, l);
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
            foreach (var d in devices)
                replicas.Add(system.ActorOf(LayerShard.Props(spec, parameters, d, model.Rope, model.Hooks), $"{spec.Name}@{d.Device}-a{run.Attempt}-{Guid.NewGuid().ToString("N")[..6]}"));

            await ForwardAllAsync(replicas, inputs, outputs).ConfigureAwait(false);
            var context = new RemoteLayerContext(l, parameters, inputs, outputs, devices[0].Transforms);
            foreach (var listener in model.Listeners) listener.OnSequentialEpochEnd(l, context);
            if (context.Replaced.Count > 0 && !run.Spec.NoPropagate)
            {
                // Error propagation: the next layer sees the outputs of the modified layer.
                await Task.WhenAll(replicas.Select(r => r.Ask<LayerShard.Offloaded>(new LayerShard.Offload(Drop: true), Timeout.InfiniteTimeSpan))).ConfigureAwait(false);
                foreach (var t in outputs) t.Dispose();
                outputs.Clear();
                await ForwardAllAsync(replicas, inputs, outputs).ConfigureAwait(false);
            }
            await Task.WhenAll(replicas.Select(r => r.Ask<LayerShard.Offloaded>(new LayerShard.Offload(Drop: true), Timeout.InfiniteTimeSpan))).ConfigureAwait(false);
            _host.Point?.Invoke(string.Create(CultureInfo.InvariantCulture, $"node-layer:{l}:computed{pointSuffix}"));

            var prefix = string.Create(CultureInfo.InvariantCulture, $"{run.Spec.JobId}/layer-{l}/a{run.Attempt}");
            var done = new LayerDone { JobId = run.Spec.JobId, Layer = l, Attempt = run.Attempt, NodeId = _host.NodeId };
            for (var b = 0; b < outputs.Count; b++)
                done.Outputs.Add(_host.Store.Publish(string.Create(CultureInfo.InvariantCulture, $"{prefix}/out/{b}"), "hidden", outputs[b]));
            foreach (var name in context.Replaced)
            {
                using var value = parameters.Get(name);
                done.ReplacedParameters.Add(_host.Store.Publish($"{prefix}/param/{name}", name, value));
            }
            // Outputs of layers two back are pulled and journaled by the driver by now.
            _host.Store.RemoveAll(string.Create(CultureInfo.InvariantCulture, $"{run.Spec.JobId}/layer-{l - 2}/"));
            done.ComputeSeconds = sw.Elapsed.TotalSeconds;
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

    /// <summary>Batch b on replica b mod D, each replica's batches in order; outputs in batch order.</summary>
    private static async Task ForwardAllAsync(IReadOnlyList<IActorRef> replicas, IReadOnlyList<Tensor> inputs, List<Tensor> outputs)
    {
        var results = new Tensor?[inputs.Count];
        await Task.WhenAll(Enumerable.Range(0, replicas.Count).Select(async d =>
        {
            for (var b = d; b < inputs.Count; b += replicas.Count)
            {
                var done = await replicas[d].Ask<LayerShard.ForwardDone>(new LayerShard.Forward(b, inputs[b]), Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                results[b] = done.Output;
            }
        })).ConfigureAwait(false);
        outputs.AddRange(results.Select(t => t!));
    }
}
