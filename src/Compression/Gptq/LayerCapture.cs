using System.Collections.Concurrent;
using System.Globalization;
using Offload.Compression.Quantization;
using Offload.Compression.Sequential;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Protocol;

namespace Offload.Compression.Gptq;

/// <summary>
/// One layer's calibration statistics, captured inside the calibration pass's forwards wherever they run: GPTQ's
/// Hessians (one per linear input: q/k/v share one, gate/up share one; spec §8.2), the static input activations'
/// ranges and the KV cache's ranges. Each batch accumulates into its own buffers (from a pool) and is merged into the
/// totals in batch order — the reduce is H = ((C₀ + C₁) + C₂) + … over the per-batch sums Cᵦ = Σ 2·xᵀx, whichever device
/// computed each Cᵦ and in whatever order they finish — so the result does not depend on the number of devices or
/// nodes. At most one merged total and one buffer per batch in flight are held.
/// </summary>
public sealed class LayerCapture : ICalibrationCapture
{
    private readonly int _layer;
    private readonly LlamaConfig _config;
    private readonly Dictionary<LinearInput, int> _hessianSites = [];
    private readonly Dictionary<LinearInput, QuantizationArgs> _staticSites = [];
    private readonly QuantizationArgs? _kvCache;
    private readonly ConcurrentDictionary<int, BatchState> _running = new();
    private readonly ConcurrentBag<Dictionary<LinearInput, HessianAccumulator>> _pool = [];
    private readonly Dictionary<int, BatchState> _pending = [];
    private readonly Lock _merge = new();
    private Dictionary<LinearInput, HessianAccumulator>? _hessians;
    private readonly Dictionary<LinearInput, float[]> _taken = [];
    private readonly InputRangeObserver? _ranges;
    private readonly KvCacheObserver? _kv;
    private long _hessianTicks;

    /// <summary>A capture for layer <paramref name="layer"/>: Hessians for GPTQ, ranges for static input activations and the KV cache.</summary>
    public LayerCapture(LlamaConfig config, int layer, IReadOnlyDictionary<string, QuantizationScheme> schemes, QuantizationMethod method, QuantizationArgs? kvCache)
    {
        _layer = layer;
        _config = config;
        _kvCache = kvCache;
        var modules = LayerQuantizer.Modules(layer, schemes);
        ReplacesParameters = modules.Count > 0;
        if (method == QuantizationMethod.Gptq)
            foreach (var (_, _, site) in modules) _hessianSites.TryAdd(site, Width(config, site));
        foreach (var (_, scheme, site) in modules)
            if (scheme.InputActivations is { Dynamic: not DynamicMode.Dynamic } ia) _staticSites.TryAdd(site, ia);
        _ranges = _staticSites.Count > 0 ? new InputRangeObserver(layer, _staticSites) : null;
        _kv = kvCache is null ? null : new KvCacheObserver(layer, kvCache, config);
    }

    /// <summary>True when the layer's quantization needs something from the calibration pass.</summary>
    public bool IsNeeded => _hessianSites.Count > 0 || _staticSites.Count > 0 || _kvCache is not null;

    /// <summary>True when the layer has targeted linears: their weights are replaced by the quantized ones.</summary>
    public bool ReplacesParameters { get; }

    /// <summary>Batches merged so far (0, 1, … in order).</summary>
    public int BatchesMerged { get; private set; }

    /// <summary>Seconds spent in the Hessians' rank-k updates, summed over the threads that ran them.</summary>
    public double HessianSeconds => TimeSpan.FromTicks(Interlocked.Read(ref _hessianTicks)).TotalSeconds;

    /// <summary>in_features of the linears that read <paramref name="site"/>.</summary>
    public static int Width(LlamaConfig config, LinearInput site) => site switch
    {
        LinearInput.AttentionOutput => config.QDim,
        LinearInput.MlpDown => config.IntermediateSize,
        _ => config.HiddenSize,
    };

    public IReadOnlyList<ILinearInputHook> BeginBatch(int batch)
    {
        var state = new BatchState();
        var hooks = new List<ILinearInputHook>(3);
        if (_hessianSites.Count > 0)
        {
            if (!_pool.TryTake(out var acc)) acc = _hessianSites.ToDictionary(p => p.Key, p => new HessianAccumulator(p.Value));
            state.Hessians = new HessianCaptureHook(_layer, acc);
            hooks.Add(state.Hessians);
        }
        if (_ranges is not null) hooks.Add(state.Ranges = new InputRangeObserver(_layer, _staticSites));
        if (_kv is not null) hooks.Add(state.Kv = new KvCacheObserver(_layer, _kvCache!, _config));
        if (!_running.TryAdd(batch, state))
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"layer {_layer}: calibration batch {batch} began twice"));
        return hooks;
    }

    public void EndBatch(int batch)
    {
        if (!_running.TryRemove(batch, out var state))
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"layer {_layer}: calibration batch {batch} ended without beginning"));
        if (state.Hessians is not null) Interlocked.Add(ref _hessianTicks, TimeSpan.FromSeconds(state.Hessians.Seconds).Ticks);
        lock (_merge)
        {
            if (batch < BatchesMerged || !_pending.TryAdd(batch, state))
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"layer {_layer}: calibration batch {batch} ended twice"));
            while (_pending.Remove(BatchesMerged, out var next))
            {
                Merge(next);
                BatchesMerged++;
            }
        }
    }

    private void Merge(BatchState b)
    {
        if (b.Hessians is { } h)
        {
            var acc = (Dictionary<LinearInput, HessianAccumulator>)h.Hessians;
            if (_hessians is null)
            {
                _hessians = acc; // 0 + C₀ = C₀ exactly: the first batch's buffers become the totals
            }
            else
            {
                foreach (var (site, total) in _hessians) total.Add(acc[site]);
                foreach (var a in acc.Values) a.Reset();
                _pool.Add(acc);
            }
        }
        if (b.Ranges is not null) _ranges!.Absorb(b.Ranges);
        if (b.Kv is not null) _kv!.Absorb(b.Kv);
    }

    private void CheckComplete(int batches)
    {
        if (BatchesMerged != batches || !_running.IsEmpty)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"layer {_layer}: {BatchesMerged} of {batches} calibration batches were captured; the calibration pass did not run every batch through the capture"));
    }

    /// <summary>Each linear input's Hessian H/N (full symmetric f32), once all <paramref name="batches"/> are merged; empty without GPTQ.</summary>
    public IReadOnlyDictionary<LinearInput, float[]> Hessians(int batches)
    {
        CheckComplete(batches);
        return _hessians is null ? new Dictionary<LinearInput, float[]>() : _hessians.ToDictionary(p => p.Key, p => p.Value.Normalized());
    }

    /// <summary>
    /// The Hessian H/N of <paramref name="site"/> (full symmetric f32), once all <paramref name="batches"/> are merged,
    /// normalized in place of the merged sum (no copy); kept until <see cref="Release"/>.
    /// </summary>
    public float[] Hessian(LinearInput site, int batches)
    {
        CheckComplete(batches);
        if (_taken.TryGetValue(site, out var h)) return h;
        _pool.Clear(); // the pass is over: the per-batch buffers go
        if (_hessians is null || !_hessians.TryGetValue(site, out var acc))
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"layer {_layer}: no Hessian was captured for {site}"));
        return _taken[site] = acc.TakeNormalized();
    }

    /// <summary>Drops the Hessian of <paramref name="site"/> (its solves are done).</summary>
    public void Release(LinearInput site)
    {
        _taken.Remove(site);
        _hessians?.Remove(site);
    }

    /// <summary>The static input activations' scales in <paramref name="dtype"/>, or null when none is static.</summary>
    public IReadOnlyDictionary<LinearInput, StaticInputScale>? InputScales(int batches, DType dtype)
    {
        CheckComplete(batches);
        return _ranges?.Scales(dtype);
    }

    /// <summary>The KV cache's k/v scales in <paramref name="dtype"/>, or null without a kv_cache_scheme.</summary>
    public KvCacheScales? KvScales(int batches, DType dtype)
    {
        CheckComplete(batches);
        return _kv?.Scales(dtype);
    }

    private sealed class BatchState
    {
        public HessianCaptureHook? Hessians { get; set; }
        public InputRangeObserver? Ranges { get; set; }
        public KvCacheObserver? Kv { get; set; }
    }
}
