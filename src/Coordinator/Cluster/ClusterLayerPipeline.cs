using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Offload.Coordinator.Job;
using Offload.DeviceActors;
using Offload.DeviceActors.DataPlane;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol.Messages;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// The <see cref="IJobPipeline"/> of a cluster job, run by its <see cref="JobCoordinator"/> on the node hosting the
/// coordinator singleton: the embedding and the head run on this node's first device; each decoder layer is the entity
/// "{job}/layer-{l}" of the shard region "layer-work" on a worker node (<see cref="LayerRequest"/>), its inputs served
/// on this node's data plane and its outputs (and the modifiers' state files) pulled from the worker's — tensors never
/// travel through Akka remoting. The state files are written into the job's state folder here, before the layer is
/// committed, so a worker never writes into the job's folders.
/// </summary>
internal sealed class ClusterLayerPipeline : IJobPipeline
{
    /// <summary>Times a layer is asked for again after its outputs could not be pulled.</summary>
    public const int MaxAttempts = 3;

    private readonly JobSpec _spec;
    private readonly int[] _windows;
    private readonly LlamaConfig _config;
    private readonly SafetensorsCheckpoint _checkpoint;
    private readonly DeviceClient _device;
    private readonly TensorStore _store;
    private readonly TensorClient _pulls;
    private readonly IActorRef _region;
    private readonly TextWriter? _log;
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly List<LayerTiming> _timings = [];
    private readonly int _windowCount;
    private ShardParameters? _embedParams, _headParams;
    private IActorRef? _embed, _head;
    private DeviceLease? _workspaceLease;
    private ActorSystem? _system;
    private ActivationSpace? _space;
    private ActivationSet? _current;
    private int _first;
    private bool _resumed;
    private Stopwatch? _layerWatch;
    private TimeSpan _layerCompute;

    public ClusterLayerPipeline(JobSpec spec, int[] windows, DeviceClient device, TensorStore store, TensorClient pulls, IActorRef region, TextWriter? log)
    {
        _spec = spec;
        _windows = windows;
        _device = device;
        _store = store;
        _pulls = pulls;
        _region = region;
        _log = log;
        _config = LlamaConfig.Load(Path.Combine(spec.ModelDir, LlamaConfig.FileName));
        _checkpoint = SafetensorsCheckpoint.Open(spec.ModelDir);
        _windowCount = windows.Length / spec.SeqLen;
        if (windows.Length == 0 || windows.Length % spec.SeqLen != 0 || (_windowCount + spec.BatchRows - 1) / spec.BatchRows != spec.Batches || _config.NumHiddenLayers != spec.Layers)
        {
            _checkpoint.Dispose();
            throw new JobException($"job {spec.JobId}: its windows file or model does not match the submitted job ({windows.Length} tokens, {_config.NumHiddenLayers} layers); submit it again");
        }
    }

    public int Layers => _config.NumHiddenLayers;

    public int Batches => _spec.Batches;

    public string LastLayerNode { get; private set; } = "";

    private int Rows(int b) => Math.Min(_spec.BatchRows, _windowCount - b * _spec.BatchRows);

    private int[] TokensOf(int b) => _windows.AsSpan(b * _spec.BatchRows * _spec.SeqLen, Rows(b) * _spec.SeqLen).ToArray();

    public async Task StartAsync(int first, ActivationSet? resumed, ActivationSpace space, ActorSystem system)
    {
        _first = first;
        _resumed = resumed is not null;
        _space = space;
        _system = system;
        var embedName = ModuleNames.Weight(ModuleNames.EmbedTokens);
        var normName = ModuleNames.Weight(ModuleNames.FinalNorm);
        var headName = ModuleNames.Weight(ModuleNames.LmHead);
        var headSource = _config.TieWordEmbeddings ? embedName : headName;
        _embedParams = new ShardParameters("embed", [(embedName, _checkpoint.Get(embedName))]);
        var rope = new RotaryEmbedding(_config);
        var tag = _spec.JobId + "-" + Guid.NewGuid().ToString("N")[..6];
        _embed = system.ActorOf(LayerShard.Props(ShardSpec.Embedding(_config) with { Scope = _spec.JobId }, _embedParams, _device, rope), "embed-" + tag);
        if (!_spec.SkipHead)
        {
            _headParams = new ShardParameters("head", [(normName, _checkpoint.Get(normName)), (headName, _checkpoint.Get(headSource))]);
            _head = system.ActorOf(LayerShard.Props(ShardSpec.Head(_config) with { Scope = _spec.JobId }, _headParams, _device, rope), "head-" + tag);
        }
        var workspace = ForwardWorkspace.Head(_config, _checkpoint.Descriptor(headSource).DType, _spec.SeqLen);
        _workspaceLease = await _device.ReserveAsync("#workspace-" + tag, "forward", workspace).ConfigureAwait(false);
        if (resumed is not null)
        {
            _current = resumed;
            _log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"job {_spec.JobId}: resuming at layer {first}"));
            return;
        }
        var embedded = new ActivationSet(space, Batches);
        try
        {
            for (var b = 0; b < Batches; b++)
            {
                var done = await _embed.Ask<LayerShard.EmbedDone>(new LayerShard.Embed(b, TokensOf(b), Rows(b), _spec.SeqLen), Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                embedded.Put(b, done.Hidden);
            }
        }
        catch
        {
            embedded.Dispose();
            throw;
        }
        _current = embedded;
    }

    public async Task<ActivationSet> RunLayerAsync(int l)
    {
        _layerWatch = Stopwatch.StartNew();
        var current = _current!;
        var inputs = new List<TensorRef>(Batches);
        for (var b = 0; b < Batches; b++)
        {
            using var t = current.Get(b);
            inputs.Add(_store.Publish(string.Create(CultureInfo.InvariantCulture, $"{_spec.JobId}/layer-{l}/in/{b}"), "hidden", t));
        }
        // The first layer after a resume may have been running when the previous coordinator died: asking for it again is
        // a redo (attempt 2), as after a worker's death.
        var firstAttempt = _resumed && l == _first ? 2 : 1;
        for (var attempt = firstAttempt; ; attempt++)
        {
            var done = new TaskCompletionSource<LayerDone>(TaskCreationOptions.RunContinuationsAsynchronously);
            _system!.ActorOf(LayerRequest.Props(_region, new RunLayer(_spec, l, attempt, inputs), done, _log));
            LayerDone answer;
            using (OffloadTelemetry.StartPhase(_spec.Kind, OffloadTelemetry.Phases.Calibrate, l))
                answer = await done.Task.ConfigureAwait(false);
            if (answer.Outputs.Count != Batches)
                throw new JobException($"layer {l}: node {answer.NodeId} answered {answer.Outputs.Count} outputs for {Batches} batches");
            var outputs = new ActivationSet(_space!, Batches);
            try
            {
                for (var b = 0; b < Batches; b++) outputs.Put(b, await _pulls.PullAsync(answer.Outputs[b]).ConfigureAwait(false));
                await FenceAsync(l).ConfigureAwait(false);
                foreach (var file in answer.StateFiles) await WriteStateFileAsync(file).ConfigureAwait(false);
                LastLayerNode = answer.NodeId;
                _layerCompute = TimeSpan.FromSeconds(answer.ComputeSeconds);
                JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"cluster-layer:{l}:before-commit"));
                return outputs;
            }
            catch (TensorTransferException ex) when (attempt < firstAttempt + MaxAttempts - 1)
            {
                outputs.Dispose();
                OffloadTelemetry.ClusterLayersRedoneCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, _spec.Kind));
                _log?.WriteLine($"layer {l}: could not pull the outputs of node {answer.NodeId} ({ex.Message}); asking again");
            }
            catch
            {
                outputs.Dispose();
                throw;
            }
        }
    }

    /// <summary>Before this coordinator writes anything of layer <paramref name="l"/> (-1: the result): it must still be part
    /// of the cluster's majority — a coordinator whose node was downed (frozen, partitioned) and replaced writes nothing.</summary>
    private async Task FenceAsync(int l)
    {
        if (!await Runtime.MajorityFence.ConfirmAsync(_system!).ConfigureAwait(false))
            throw new CoordinatorFencedException(l < 0
                ? $"job {_spec.JobId}: this coordinator is no longer in the cluster's majority; it writes no result"
                : string.Create(CultureInfo.InvariantCulture, $"job {_spec.JobId}: this coordinator is no longer in the cluster's majority; layer {l} is not committed here"));
    }

    /// <summary>A state file of the layer (e.g. its GPTQ results) into the job's state folder: temporary name, fsync, rename.</summary>
    private async Task WriteStateFileAsync(TensorRef file)
    {
        if (string.IsNullOrEmpty(_spec.StateDir)) throw new JobException($"job {_spec.JobId}: a worker sent state file {file.Name} but the job has no state folder");
        var name = Path.GetFileName(file.Name);
        if (name.Length == 0 || name != file.Name) throw new JobException($"job {_spec.JobId}: a worker sent a state file named '{file.Name}', which is not a file name");
        using var t = await _pulls.PullAsync(file).ConfigureAwait(false);
        Directory.CreateDirectory(_spec.StateDir);
        var bytes = t.Bytes().ToArray();
        DurableFile.Write(Path.Combine(_spec.StateDir, name), s => s.Write(bytes));
    }

    public T InLayer<T>(int l, string phase, Func<T> work)
    {
        using (OffloadTelemetry.StartPhase(_spec.Kind, phase, l)) return work();
    }

    public void Advance(int l, ActivationSet outputs)
    {
        JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"cluster-layer:{l}:after"));
        OffloadTelemetry.LayersCompletedCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, _spec.Kind));
        _current?.Dispose();
        _current = outputs;
        _store.RemoveAll(string.Create(CultureInfo.InvariantCulture, $"{_spec.JobId}/layer-{l}/"));
        var wall = _layerWatch?.Elapsed ?? TimeSpan.Zero;
        _timings.Add(new LayerTiming($"layer-{l}", wall, _layerCompute, TimeSpan.Zero));
        _log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"layer {l}: {wall.TotalSeconds:F3} s on {LastLayerNode} (compute {_layerCompute.TotalSeconds:F3} s)"));
    }

    public async Task<LayerwiseEvalReport> FinishAsync()
    {
        EvalResult? result = null;
        if (_head is not null)
        {
            var nll = new double[_windowCount];
            var last = _current!;
            for (var b = 0; b < Batches; b++)
            {
                using var hidden = last.Get(b);
                var done = await _head.Ask<LayerShard.HeadDone>(new LayerShard.Head(b, hidden, TokensOf(b), _spec.SeqLen), Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                done.WindowNll.CopyTo(nll, b * _spec.BatchRows);
            }
            var mean = 0.0;
            foreach (var v in nll) mean += v;
            mean /= _windowCount;
            result = new EvalResult(mean, (long)_windowCount * (_spec.SeqLen - 1), nll);
            await FenceAsync(-1).ConfigureAwait(false);
            LayerwiseEvalJob.WriteResult(_spec.OutDir, result, _spec.SeqLen);
        }
        return new LayerwiseEvalReport(result, _first, [], _timings, 0, _space!.PeakBytes, _space.SpilledBytes, _wall.Elapsed);
    }

    public ValueTask DisposeAsync()
    {
        _current?.Dispose();
        _current = null;
        if (_embed is not null) _system?.Stop(_embed);
        if (_head is not null) _system?.Stop(_head);
        _workspaceLease?.Dispose();
        _embedParams?.Dispose();
        _headParams?.Dispose();
        _store.RemoveAll(_spec.JobId + "/");
        _checkpoint.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A coordinator that is no longer in the cluster's majority stops without writing or recording anything.</summary>
internal sealed class CoordinatorFencedException(string message) : Exception(message);
