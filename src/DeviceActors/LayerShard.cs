using System.Diagnostics;
using Akka.Actor;
using Offload.Runtime;
using Offload.Compression.Sequential;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// The entity of one model part (a decoder layer, the embedding, or final norm + lm_head) on one device: its replica
/// of the part. It owns the part's device residency; the parameters themselves (<see cref="ShardParameters"/>, shared
/// by the replicas on every device) stay in their mapped or host tier. It onloads on demand (or ahead of time on
/// <see cref="Prefetch"/>), runs its forward on a batch, and offloads (unpins; the copies stay cached on the device
/// until evicted). One message at a time; replicas on different devices run in parallel.
/// </summary>
public sealed class LayerShard : TracedReceiveActor
{
    private readonly ShardSpec _spec;
    private readonly ShardParameters _parameters;
    private readonly DeviceClient _device;
    private readonly RotaryEmbedding _rope;
    private readonly ILinearInputHook? _hooks;
    private Task<DeviceLease>? _pending;
    private DeviceLease? _lease;
    private DecoderLayer? _layer;
    private OutputHead? _head;
    private TimeSpan _onloadWait;

    /// <summary>Use <see cref="Props"/> (Akka.NET creates the actor through this public constructor).</summary>
    public LayerShard(ShardSpec spec, ShardParameters parameters, DeviceClient device, RotaryEmbedding rope, ILinearInputHook? hooks)
    {
        _spec = spec;
        _parameters = parameters;
        _device = device;
        _rope = rope;
        _hooks = hooks;
        Receive<Prefetch>(_ => StartOnload(prefetch: true));
        Receive<Acquire>(_ =>
        {
            if (_pending is null) StartOnload(prefetch: false);
            else _device.Promote(_spec.Name);
            Sender.Tell(Acquiring.Instance, Self);
        });
        ReceiveAsync<Forward>(m => Reply(() => OnForward(m)));
        ReceiveAsync<Head>(m => Reply(() => OnHead(m)));
        ReceiveAsync<Embed>(m => Reply(() => Task.FromResult<object>(OnEmbed(m))));
        ReceiveAsync<Offload>(m => Reply(() => OnOffload(m.Drop)));
        ReceiveAsync<Modify>(m => Reply(() => OnModify(m)));
    }

    /// <param name="hooks">online transforms run inside the decoder layer's forward (SpinQuant R3/R4), or null.</param>
    public static Props Props(ShardSpec spec, ShardParameters parameters, DeviceClient device, RotaryEmbedding rope, ILinearInputHook? hooks = null) =>
        Akka.Actor.Props.Create(() => new LayerShard(spec, parameters, device, rope, hooks));

    // ---- messages ------------------------------------------------------------------------------------------------

    /// <summary>Start onloading now (a prefetch: it waits behind demands on the device). No reply.</summary>
    public sealed record Prefetch
    {
        public static readonly Prefetch Instance = new();
    }

    /// <summary>
    /// Ask for the parameters now, as a demand (or promote a waiting prefetch) → <see cref="Acquiring"/> once the request
    /// is in the device's mailbox: a prefetch sent to another shard after that reply queues behind it.
    /// </summary>
    public sealed record Acquire
    {
        public static readonly Acquire Instance = new();
    }

    public sealed record Acquiring
    {
        public static readonly Acquiring Instance = new();
    }

    /// <summary>
    /// Decoder forward of one batch: Input [rows, seq, hidden] f32 (the sender keeps ownership) → <see cref="ForwardDone"/>.
    /// With a <paramref name="Capture"/> (a calibration pass) the batch's capture hooks run inside the forward, after the
    /// layer's online hooks, and the capture hears when the batch is done.
    /// </summary>
    public sealed record Forward(int Batch, Tensor Input, ICalibrationCapture? Capture = null);

    /// <summary>Output [rows, seq, hidden] f32 (the receiver owns it); OnloadWait = time this call waited for the parameters.</summary>
    public sealed record ForwardDone(int Batch, Tensor Output, TimeSpan OnloadWait, TimeSpan Compute);

    /// <summary>Head of one batch: Hidden [rows, seq, hidden] f32, Tokens [rows·seq] → <see cref="HeadDone"/> with each window's mean NLL.</summary>
    public sealed record Head(int Batch, Tensor Hidden, int[] Tokens, int SeqLen);

    public sealed record HeadDone(int Batch, double[] WindowNll, TimeSpan OnloadWait, TimeSpan Compute);

    /// <summary>Embedding of one batch: Tokens [rows·seq] → <see cref="EmbedDone"/> with [rows, seq, hidden] f32.</summary>
    public sealed record Embed(int Batch, int[] Tokens, int Rows, int SeqLen);

    public sealed record EmbedDone(int Batch, Tensor Hidden);

    /// <summary>Release the device copies (unpin); with <paramref name="Drop"/> also free them now → <see cref="Offloaded"/>.</summary>
    public sealed record Offload(bool Drop = false);

    public sealed record Offloaded(string Shard);

    /// <summary>
    /// Runs <paramref name="Work"/> on this decoder layer on its device (a data-free modifier event such as SpinQuant's
    /// rotation fusion): the parameters are onloaded, the work reads them through an <see cref="ILayerContext"/> whose
    /// transform cache is this device's, and replaced parameters drop the device copies → <see cref="ModifyDone"/>.
    /// </summary>
    public sealed record Modify(Action<ILayerContext> Work);

    /// <summary>Reply to <see cref="Modify"/>: whether a parameter was replaced, and the time it took.</summary>
    public sealed record ModifyDone(string Shard, bool Changed, TimeSpan Elapsed);

    // ---- handlers --------------------------------------------------------------------------------------------------

    private async Task Reply(Func<Task<object>> work)
    {
        var sender = Sender;
        var self = Self;
        try
        {
            sender.Tell(await work(), self);
        }
        catch (Exception ex)
        {
            sender.Tell(new Status.Failure(ex), self);
        }
    }

    private void StartOnload(bool prefetch)
    {
        if (_lease is not null || _pending is not null || _spec.Kind == ShardKind.Embedding) return;
        var sources = _parameters.Snapshot();
        _pending = _device.OnloadAsync(_spec.Name, sources, prefetch);
    }

    private async Task EnsureOnloaded()
    {
        if (_lease is not null) return;
        var sw = Stopwatch.StartNew();
        if (_pending is null) StartOnload(prefetch: false);
        else _device.Promote(_spec.Name);
        try
        {
            _lease = await _pending!;
        }
        finally
        {
            _pending = null;
        }
        var lease = _lease;
        var config = _spec.Config;
        if (_spec.Kind == ShardKind.Decoder)
        {
            var weights = DecoderLayerWeights.From(config, _spec.LayerIndex, n => lease.Contains(n) ? lease[n].Share() : null, _device.Device.ToString());
            _layer = new DecoderLayer(config, _spec.LayerIndex, weights, _rope) { Hooks = _hooks is null ? null : [_hooks] };
        }
        else
        {
            _head = new OutputHead(lease[ModuleNames.Weight(ModuleNames.FinalNorm)].Share(), lease[ModuleNames.Weight(ModuleNames.LmHead)].Share(), config.RmsNormEps);
        }
        _onloadWait += sw.Elapsed;
    }

    private async Task<object> OnModify(Modify m)
    {
        if (_spec.Kind != ShardKind.Decoder) throw new InvalidOperationException($"{_spec.Name} is not a decoder layer");
        var sw = Stopwatch.StartNew();
        await EnsureOnloaded();
        var context = new ShardLayerContext(_spec.LayerIndex, _parameters, _lease!, _device.Transforms);
        m.Work(context);
        if (context.Modified) await OnOffload(drop: true);
        return new ModifyDone(_spec.Name, context.Modified, sw.Elapsed);
    }

    private async Task<object> OnForward(Forward m)
    {
        if (_spec.Kind != ShardKind.Decoder) throw new InvalidOperationException($"{_spec.Name} is not a decoder layer");
        var before = _onloadWait;
        await EnsureOnloaded();
        var wait = _onloadWait - before;
        var sw = Stopwatch.StartNew();
        var hooks = m.Capture?.BeginBatch(m.Batch);
        var output = _layer!.Forward(m.Input, null, hooks);
        m.Capture?.EndBatch(m.Batch);
        return new ForwardDone(m.Batch, output, wait, sw.Elapsed);
    }

    private async Task<object> OnHead(Head m)
    {
        if (_spec.Kind != ShardKind.Head) throw new InvalidOperationException($"{_spec.Name} is not the head");
        var before = _onloadWait;
        await EnsureOnloaded();
        var wait = _onloadWait - before;
        var sw = Stopwatch.StartNew();
        var rows = checked((int)m.Hidden.Dim(0));
        var seq = m.SeqLen;
        var vocab = _spec.Config.VocabSize;
        var nll = new double[rows];
        // Exactly PerplexityEvaluator's arithmetic: one window at a time, f64 sums in position order.
        for (var i = 0; i < rows; i++)
        {
            using var hidden = m.Hidden.Slice(i, 1);      // [1, seq, hidden]
            using var logits = _head!.Logits(hidden);      // [1, seq, vocab]
            var l = logits.ReadOnlySpan<float>();
            var sum = 0.0;
            for (var t = 0; t + 1 < seq; t++) sum += TokenNll.Of(l.Slice(t * vocab, vocab), m.Tokens[i * seq + t + 1]);
            nll[i] = sum / (seq - 1);
        }
        return new HeadDone(m.Batch, nll, wait, sw.Elapsed);
    }

    private EmbedDone OnEmbed(Embed m)
    {
        if (_spec.Kind != ShardKind.Embedding) throw new InvalidOperationException($"{_spec.Name} is not the embedding");
        using var embedding = new TokenEmbedding(_parameters.Get(ModuleNames.Weight(ModuleNames.EmbedTokens)));
        return new EmbedDone(m.Batch, embedding.Lookup(m.Tokens, m.Rows, m.SeqLen));
    }

    private async Task<object> OnOffload(bool drop)
    {
        if (_pending is not null)
        {
            // An onload in flight (a prefetch never used): take it and give it back.
            _device.Promote(_spec.Name);
            try
            {
                _lease = await _pending;
            }
            finally
            {
                _pending = null;
            }
        }
        _layer?.Dispose();
        _layer = null;
        _head?.Dispose();
        _head = null;
        _lease?.Dispose();
        _lease = null;
        if (drop) await _device.DropAsync(_spec.Name);
        return new Offloaded(_spec.Name);
    }

    protected override void PostStop()
    {
        _layer?.Dispose();
        _head?.Dispose();
        _lease?.Dispose();
    }
}
