using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Offload.Compression.Sequential;
using Offload.DeviceActors;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Job;

/// <summary>
/// The work of one layer-wise job in this process, step by step, for the <see cref="JobCoordinator"/> that sequences
/// it and records what is done: <see cref="StartAsync"/> (devices, one <see cref="LayerShard"/> replica per part and
/// device, modifiers initialized, the windows embedded or the last committed layer's outputs loaded),
/// <see cref="RunLayerAsync"/> (a layer's batches split over the devices — batch b on device b mod D, reassembled in
/// batch order, so results do not depend on the device count — with the modifiers' captures (GPTQ's Hessians,
/// observers) inside the replicas' forwards, then the modifiers at SEQUENTIAL_EPOCH_END and, when they replaced a
/// parameter, a second pass: error propagation), <see cref="Advance"/> and <see cref="FinishAsync"/>
/// (final norm + lm_head → NLL per window). While layer l computes, layers l+1..l+depth are prefetched. Between layers
/// the activations stay in host memory under a budget, spilling to files beyond it.
/// </summary>
internal sealed class LayerPipeline : IJobPipeline
{
    private readonly LayerwiseJobOptions _options;
    private readonly int[] _windows;
    private readonly IReadOnlyList<IJobListener> _listeners;
    private readonly TextWriter? _log;
    private readonly LlamaConfig _config;
    private readonly SafetensorsCheckpoint _checkpoint;
    private readonly List<(ShardSpec Spec, ShardParameters Params)> _parts = [];
    private readonly List<DeviceClient> _devices = [];
    private readonly List<LayerTiming> _timings = [];
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly int _windowCount;
    private readonly int _batchCount;
    private readonly long _workspace;
    private ActorSystem? _system;
    private IActorRef? _region;
    private DeviceLease[] _workspaceLeases = [];
    private ActivationSpace? _space;
    private ActivationSet? _current;
    private int _first;
    private readonly ActivityContext _jobSpan = Activity.Current?.Context ?? default;
    private Activity? _layerSpan;
    private Stopwatch? _layerWatch;
    private TimeSpan _layerCompute, _layerWait;

    /// <summary>Opens the model and checks that every part fits a device; nothing starts yet.</summary>
    public LayerPipeline(LayerwiseJobOptions options, int[] windows, LlamaConfig config, SafetensorsCheckpoint checkpoint,
        IReadOnlyList<IJobListener> listeners, TextWriter? log)
    {
        _options = options;
        _windows = windows;
        _listeners = listeners;
        _log = log;
        _config = config;
        _checkpoint = checkpoint;
        var seq = options.SeqLen;
        _windowCount = windows.Length / seq;
        _batchCount = (_windowCount + options.BatchRows - 1) / options.BatchRows;
        var layers = config.NumHiddenLayers;

        // Parameters of every shard, as zero-copy views of the mapped checkpoint (the first tier).
        var embedName = ModuleNames.Weight(ModuleNames.EmbedTokens);
        _parts.Add((ShardSpec.Embedding(config), new ShardParameters("embed", [(embedName, checkpoint.Get(embedName))])));
        for (var l = 0; l < layers; l++)
        {
            var spec = ShardSpec.Decoder(config, l);
            _parts.Add((spec, new ShardParameters(spec.Name, ModuleTree.LayerParameters(config, l).Select(p => (p.Name, checkpoint.Get(p.Name))).ToList())));
        }
        var normName = ModuleNames.Weight(ModuleNames.FinalNorm);
        var headName = ModuleNames.Weight(ModuleNames.LmHead);
        _parts.Add((ShardSpec.Head(config), new ShardParameters("head",
            [(normName, checkpoint.Get(normName)), (headName, checkpoint.Get(config.TieWordEmbeddings ? embedName : headName))])));

        var weightDType = checkpoint.Descriptor(ModuleNames.Weight(ModuleNames.QProj(0))).DType;
        var headDType = checkpoint.Descriptor(config.TieWordEmbeddings ? embedName : headName).DType;
        var rows = Math.Min(options.BatchRows, _windowCount);
        _workspace = Math.Max(ForwardWorkspace.Decoder(config, weightDType, rows, seq), ForwardWorkspace.Head(config, headDType, seq));
        for (var i = 1; i < _parts.Count; i++)
        {
            var bytes = _parts[i].Params.Bytes;
            if (bytes + _workspace > options.DeviceMemoryBytes)
            {
                foreach (var (_, p) in _parts) p.Dispose();
                throw new DeviceMemoryException(options.Devices[0],
                    $"{_parts[i].Spec.Name} ({ByteSize.Format(bytes)} of parameters + {ByteSize.Format(_workspace)} forward workspace for batches of {rows}×{seq} tokens)",
                    bytes + _workspace, options.DeviceMemoryBytes);
            }
        }
    }

    public int Layers => _config.NumHiddenLayers;

    /// <summary>Always "": every layer runs in this process.</summary>
    public string LastLayerNode => "";

    public int Batches => _batchCount;

    private int HeadPart => Layers + 1;

    private int Rows(int b) => Math.Min(_options.BatchRows, _windowCount - b * _options.BatchRows);

    private int[] TokensOf(int b) => _windows.AsSpan(b * _options.BatchRows * _options.SeqLen, Rows(b) * _options.SeqLen).ToArray();

    /// <summary>Asks <paramref name="part"/>'s replica on device <paramref name="device"/> through the shard region.</summary>
    private Task<T> AskReplica<T>(int part, int device, object message) =>
        _region!.Ask<T>(Envelope(part, device, message), Timeout.InfiniteTimeSpan);

    private void TellReplica(int part, int device, object message) => _region!.Tell(Envelope(part, device, message));

    private ReplicaEnvelope Envelope(int part, int device, object message) =>
        new(ReplicaMessageExtractor.EntityIdOf(_parts[part].Spec.Name, _devices[device].Device), message, Activity.Current?.Context ?? default);

    private RotaryEmbedding? Rope { get; set; }

    /// <summary>
    /// Starts the devices and replicas and the modifiers (initialize, calibration_start); the first layer to run is
    /// <paramref name="first"/>, whose inputs are <paramref name="resumed"/> (the outputs of layer first−1 read back
    /// from the journal) or, from layer 0, the embedded windows. The devices and replicas are actors of
    /// <paramref name="system"/>, which the caller terminates before disposing the pipeline.
    /// </summary>
    public async Task StartAsync(int first, ActivationSet? resumed, ActivationSpace space, ActorSystem system)
    {
        _first = first;
        _space = space;
        _system = system;
        foreach (var d in _options.Devices.Take(Math.Min(_options.Devices.Count, _batchCount)))
        {
            _devices.Add(DeviceClient.Start(_system, new DeviceOptions(d, _options.DeviceMemoryBytes)
            {
                BandwidthBytesPerSecond = _options.BandwidthBytesPerSecond,
                Delay = _options.TransferDelay,
            }));
        }
        _workspaceLeases = await Task.WhenAll(_devices.Select(dev => dev.ReserveAsync("#workspace", "forward", _workspace))).ConfigureAwait(false);
        Rope = new RotaryEmbedding(_config);
        // The replicas are the entities of the shard region "layer" (entity "{part}@{device}", one shard per device),
        // created on first message on the node that holds the device; shards are placed by free device memory.
        var partIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < _parts.Count; i++) partIndex[_parts[i].Spec.Name] = i;
        var deviceIndex = new Dictionary<string, DeviceClient>(StringComparer.Ordinal);
        foreach (var dev in _devices) deviceIndex[dev.Device.ToString()] = dev;
        var devices = _devices;
        _region = await ClusterSharding.Get(system).StartAsync(ReplicaMessageExtractor.TypeName, entityId =>
            {
                var (part, device) = ReplicaMessageExtractor.Parse(entityId);
                var p = _parts[partIndex[part]];
                return LayerShard.Props(p.Spec, p.Params, deviceIndex[device], Rope, _options.Hooks);
            },
            ClusterShardingSettings.Create(system), ReplicaMessageExtractor.Instance,
            new global::Offload.Runtime.FreeMemoryAllocationStrategy(_ => devices.Sum(d => d.BudgetBytes - d.Memory.ResidentBytes)),
            PoisonPill.Instance).ConfigureAwait(false);

        var info = new JobStartInfo(_config, _batchCount, _options.SeqLen, first, first > 0);
        foreach (var listener in _listeners) listener.OnInitialize(info);
        foreach (var listener in _listeners) listener.OnCalibrationStart();

        if (resumed is not null)
        {
            _current = resumed;
            _log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"resuming {Path.Combine(_options.OutDir!, JobJournal.FolderName)}: layers 0..{first - 1} done, continuing with layer {first}"));
            return;
        }
        var embedded = new ActivationSet(space, _batchCount);
        var seq = _options.SeqLen;
        await ForEachDevice(async (d, b) =>
        {
            var done = await AskReplica<LayerShard.EmbedDone>(0, d, new LayerShard.Embed(b, TokensOf(b), Rows(b), seq)).ConfigureAwait(false);
            embedded.Put(b, done.Hidden);
        }).ConfigureAwait(false);
        _current = embedded;
    }

    /// <summary>Runs decoder layer <paramref name="l"/> on the current activations → its outputs (owned by the caller until <see cref="Advance"/>).</summary>
    public async Task<ActivationSet> RunLayerAsync(int l)
    {
        var kind = _options.JobKind;
        var phase = OffloadTelemetry.Phases.Calibrate;
        var current = _current!;
        _layerWatch = Stopwatch.StartNew();
        // A child of the job span (current where the pipeline was made): the steps run wherever the coordinator pipes
        // them. It stays open through the commit (InLayer) until Advance.
        var layerSpan = _layerSpan = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.LayerSpan, ActivityKind.Internal, _jobSpan);
        layerSpan?.SetTag(OffloadTelemetry.AttrLayer, l);
        try
        {
            ActivationSet? outputs;
            TimeSpan compute, wait;
            var capture = CompositeCapture.For(_listeners, l);
            // When a listener will replace the layer's parameters and the layer is re-run for the next one, the
            // calibration pass's outputs are never read: each batch's is dropped as it arrives.
            var rerun = capture is { ReplacesParameters: true } && _options.PropagateModified;
            using (OffloadTelemetry.StartPhase(kind, OffloadTelemetry.Phases.Calibrate, l))
                (outputs, compute, wait) = await DecoderPass(l, current, capture, keepOutputs: !rerun).ConfigureAwait(false);
            try
            {
                var context = new LayerContext(l, _parts[l + 1].Params, current, outputs, _devices[0].Transforms);
                if (_listeners.Count > 0)
                    using (OffloadTelemetry.StartPhase(kind, phase = OffloadTelemetry.Phases.Compress, l))
                    {
                        // The re-run onloads the replaced parameters anyway: the device copies go before the solves.
                        if (rerun) await Offload(l + 1, drop: true).ConfigureAwait(false);
                        // The solves work in managed arrays: the forward's idle buffers are given back to the OS rather
                        // than held beside them (fresh pages fault in 2 MiB huge pages, so the re-run refills the pool cheaply).
                        global::Offload.Tensors.Storage.NativeBufferPool.Trim();
                        foreach (var listener in _listeners) listener.OnSequentialEpochEnd(l, context);
                        // The solves' managed work arrays and results are garbage now (the results are saved and the
                        // replaced parameters are native tensors): collected before the re-run allocates its activations.
                        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
                    }
                if (context.Modified && _options.PropagateModified)
                {
                    using var propagate = OffloadTelemetry.StartPhase(kind, phase = OffloadTelemetry.Phases.Propagate, l);
                    // Error propagation: the next layer sees the outputs of the modified layer. The layers prefetched
                    // behind it give back their (pinned) leases first, so the re-onload can evict them if the budget
                    // needs the room; they are prefetched again after the re-run's acquire.
                    await Offload(l + 1, drop: true).ConfigureAwait(false);
                    for (var k = 1; k <= _options.PrefetchDepth && l + 1 + k <= LastPart; k++)
                        await Offload(l + 1 + k, drop: false).ConfigureAwait(false);
                    outputs?.Dispose();
                    outputs = null;
                    var again = await DecoderPass(l, current, null, keepOutputs: true).ConfigureAwait(false);
                    outputs = again.Outputs;
                    compute += again.Compute;
                    wait += again.Wait;
                }
                // A layer-wise job never comes back to a finished layer: its device copies go now (not kept for reuse).
                using (OffloadTelemetry.StartPhase(kind, phase = OffloadTelemetry.Phases.Offload, l))
                    await Offload(l + 1, drop: true).ConfigureAwait(false);
                JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{l}:before-commit"));
            }
            catch
            {
                outputs?.Dispose();
                throw;
            }
            (_layerCompute, _layerWait) = (compute, wait);
            return outputs ?? throw new InvalidOperationException($"layer {l}: no listener replaced a parameter, so the calibration pass's outputs (not kept) are missing");
        }
        catch (Exception e)
        {
            EndLayerSpan();
            if (e is OffloadException or LayerFailedException or OperationCanceledException or AggregateException { InnerException: OffloadException }) throw;
            throw new LayerFailedException($"layer {l}", phase, e);
        }
    }

    /// <summary>Runs <paramref name="work"/> for layer <paramref name="l"/> inside its span, as phase <paramref name="phase"/> (the commit's save).</summary>
    public T InLayer<T>(int l, string phase, Func<T> work)
    {
        var previous = Activity.Current;
        Activity.Current = _layerSpan;
        try
        {
            using (OffloadTelemetry.StartPhase(_options.JobKind, phase, l)) return work();
        }
        catch (Exception e) when (e is not OffloadException and not LayerFailedException and not OperationCanceledException)
        {
            EndLayerSpan();
            throw new LayerFailedException($"layer {l}", phase, e);
        }
        finally
        {
            Activity.Current = previous;
        }
    }

    private void EndLayerSpan()
    {
        _layerSpan?.Dispose();
        _layerSpan = null;
    }

    /// <summary>Layer <paramref name="l"/> is committed: its outputs become the next layer's inputs.</summary>
    public void Advance(int l, ActivationSet outputs)
    {
        var previous = Activity.Current;
        Activity.Current = _layerSpan;
        try
        {
            JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{l}:after"));
            OffloadTelemetry.LayersCompletedCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, _options.JobKind));
            _current?.Dispose();
            _current = outputs;
            // Committed: nothing reads this layer's parameters again (its results are in the journal and the modifiers'
            // state), so the host copies a modifier put in place of the mapped ones are freed now, not at the job's end.
            _parts[l + 1].Params.Dispose();
            // The layer's managed garbage (its solves' results, the Hessians) would otherwise wait for the GC's budget
            // while the next layer allocates beside it: collected here, once per layer (milliseconds: few live objects).
            GC.Collect(2, GCCollectionMode.Forced, blocking: true);
            var wall = _layerWatch?.Elapsed ?? TimeSpan.Zero;
            _timings.Add(new LayerTiming(_parts[l + 1].Spec.Name, wall, _layerCompute, _layerWait));
            _log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"layer {l}: {wall.TotalSeconds:F3} s (compute {_layerCompute.TotalSeconds:F3} s, waited for parameters {_layerWait.TotalSeconds:F3} s)"));
        }
        finally
        {
            EndLayerSpan();
            Activity.Current = previous;
        }
    }

    /// <summary>The head (when scoring), calibration_end, the result file, finalize → the job's report.</summary>
    public async Task<LayerwiseEvalReport> FinishAsync()
    {
        EvalResult? result = null;
        if (_options.ScoreHead) result = await ScoreHead().ConfigureAwait(false);
        foreach (var listener in _listeners) listener.OnCalibrationEnd();
        if (_options.OutDir is not null && result is not null) LayerwiseEvalJob.WriteResult(_options.OutDir, result, _options.SeqLen);
        foreach (var listener in _listeners) listener.OnFinalize();
        foreach (var lease in _workspaceLeases) lease.Dispose();
        _workspaceLeases = [];
        var stats = await Task.WhenAll(_devices.Select(dev => dev.StatsAsync())).ConfigureAwait(false);
        return new LayerwiseEvalReport(result, _first, stats, _timings, _workspace, _space!.PeakBytes, _space.SpilledBytes, _wall.Elapsed);
    }

    public async ValueTask DisposeAsync()
    {
        EndLayerSpan();
        _current?.Dispose();
        _current = null;
        if (_system is not null) await _system.WhenTerminated.ConfigureAwait(false);
        foreach (var dev in _devices) dev.FreeAll();
        foreach (var (_, p) in _parts) p.Dispose();
    }

    // ---- steps -----------------------------------------------------------------------------------------------------

    private int LastPart => _options.ScoreHead ? HeadPart : Layers;

    private async Task Acquire(int part) =>
        await Task.WhenAll(Enumerable.Range(0, _devices.Count).Select(d =>
            AskReplica<LayerShard.Acquiring>(part, d, LayerShard.Acquire.Instance))).ConfigureAwait(false);

    private void PrefetchAfter(int part)
    {
        for (var k = 1; k <= _options.PrefetchDepth && part + k <= LastPart; k++)
            for (var d = 0; d < _devices.Count; d++) TellReplica(part + k, d, LayerShard.Prefetch.Instance);
    }

    private async Task Offload(int part, bool drop) =>
        await Task.WhenAll(Enumerable.Range(0, _devices.Count).Select(d =>
            AskReplica<LayerShard.Offloaded>(part, d, new LayerShard.Offload(drop)))).ConfigureAwait(false);

    // capture: the modifiers' capture of the calibration pass (null for the propagation pass).
    // keepOutputs: false drops each batch's output as it arrives (the pass returns no outputs).
    private async Task<(ActivationSet? Outputs, TimeSpan Compute, TimeSpan Wait)> DecoderPass(int l, ActivationSet inputs, ICalibrationCapture? capture, bool keepOutputs)
    {
        var part = l + 1;
        await Acquire(part).ConfigureAwait(false);
        PrefetchAfter(part);
        var outputs = keepOutputs ? new ActivationSet(_space!, _batchCount) : null;
        long computeTicks = 0, waitTicks = 0;
        try
        {
            await ForEachDevice(async (d, b) =>
            {
                using var input = inputs.Get(b);
                var done = await AskReplica<LayerShard.ForwardDone>(part, d, new LayerShard.Forward(b, input, capture)).ConfigureAwait(false);
                if (outputs is not null) outputs.Put(b, done.Output);
                else done.Output.Dispose();
                Interlocked.Add(ref computeTicks, done.Compute.Ticks);
                Interlocked.Add(ref waitTicks, done.OnloadWait.Ticks);
                JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{l}:batch:{b}"));
            }).ConfigureAwait(false);
        }
        catch
        {
            outputs?.Dispose();
            throw;
        }
        return (outputs, TimeSpan.FromTicks(computeTicks), TimeSpan.FromTicks(waitTicks));
    }

    /// <summary>Final norm + lm_head → NLL per window, reassembled in window order.</summary>
    private async Task<EvalResult> ScoreHead()
    {
        var headWatch = Stopwatch.StartNew();
        if (_first == Layers) PrefetchAfter(HeadPart - 1);
        await Acquire(HeadPart).ConfigureAwait(false);
        var nll = new double[_windowCount];
        long headCompute = 0, headWait = 0;
        var last = _current!;
        var seq = _options.SeqLen;
        await ForEachDevice(async (d, b) =>
        {
            using var hidden = last.Get(b);
            var done = await AskReplica<LayerShard.HeadDone>(HeadPart, d, new LayerShard.Head(b, hidden, TokensOf(b), seq)).ConfigureAwait(false);
            done.WindowNll.CopyTo(nll, b * _options.BatchRows);
            Interlocked.Add(ref headCompute, done.Compute.Ticks);
            Interlocked.Add(ref headWait, done.OnloadWait.Ticks);
        }).ConfigureAwait(false);
        await Offload(HeadPart, drop: false).ConfigureAwait(false);
        _timings.Add(new LayerTiming("head", headWatch.Elapsed, TimeSpan.FromTicks(headCompute), TimeSpan.FromTicks(headWait)));
        var mean = 0.0;
        foreach (var v in nll) mean += v;
        mean /= _windowCount;
        return new EvalResult(mean, (long)_windowCount * (seq - 1), nll);
    }

    /// <summary>Runs <paramref name="work"/>(device, batch) for every batch, batch b on device b mod D; each device's batches in order.</summary>
    private Task ForEachDevice(Func<int, int, Task> work)
    {
        var devices = _devices.Count;
        var batches = _batchCount;
        return Task.WhenAll(Enumerable.Range(0, devices).Select(async d =>
        {
            for (var b = d; b < batches; b += devices) await work(d, b).ConfigureAwait(false);
        }));
    }
}
