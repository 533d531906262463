using Offload.Compression.Gptq;
using Offload.Compression.Quantization;
using Offload.Compression.Sequential;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;

namespace Offload.Compression.Modifiers;

/// <summary>
/// llm-compressor's GPTQModifier as a sequential-job listener. Before a layer's calibration pass it hands the runtime a
/// <see cref="LayerCapture"/> (<see cref="BeginLayer"/>): the replicas accumulate the Hessian of every targeted linear's
/// input inside their forwards, per batch, merged in batch order (so the sums do not depend on how many devices ran the
/// batches). At SEQUENTIAL_EPOCH_END every targeted linear is solved (concurrently) and its weight replaced by the
/// fake-quantized one, which the runtime re-runs to feed the next layer (error propagation): two passes per layer.
/// <see cref="Results"/> keeps each linear's qparams for the checkpoint writer; with a <c>stateDir</c> each layer's
/// results are also saved there and a resumed job reloads the layers it does not redo, so its checkpoint is the same as
/// an uninterrupted run's. With <c>keepResults</c> false (and a stateDir) nothing is kept in memory: a checkpoint
/// writer reads the layers back from the state folder.
/// </summary>
/// <para>With <c>method</c> RTN it is the calibrated QuantizationModifier: no Hessians, round-to-nearest weights, and the
/// static input activations' scales observed in the same calibration pass. The plan's kv_cache_scheme (either method)
/// observes each layer's post-RoPE keys and values in that pass (after the online hooks, so after R3) and keeps its k/v
/// scales (<see cref="KvCache"/>, and in the state folder). The online hooks themselves run in the runtime's layers.</para>
public sealed class GptqModifier(QuantizationPlan plan, GptqOptions? options = null,
    string? stateDir = null, bool keepResults = true, QuantizationMethod method = QuantizationMethod.Gptq) : ICapturingListener
{
    private readonly Dictionary<int, LayerCapture> _captures = [];
    private readonly LayerResultStore? _store = stateDir is null ? null : new LayerResultStore(stateDir);
    private readonly GptqOptions _options = options ?? new GptqOptions();
    private readonly Dictionary<string, LinearQuantization> _results = new(StringComparer.Ordinal);
    private readonly Dictionary<int, KvCacheScales> _kvCache = [];
    private LlamaConfig? _config;
    private IReadOnlyDictionary<string, QuantizationScheme>? _schemes;

    public QuantizationPlan Plan => plan;

    /// <summary>Every quantized linear so far, by module name.</summary>
    public IReadOnlyDictionary<string, LinearQuantization> Results => _results;

    /// <summary>The calibrated KV-cache scales of every layer so far (with a kv_cache_scheme), by layer.</summary>
    public IReadOnlyDictionary<int, KvCacheScales> KvCache => _kvCache;

    /// <summary>Per-layer time split of the layers done in this process.</summary>
    public Dictionary<int, LayerTimings> Timings { get; } = [];

    public void OnInitialize(JobStartInfo info)
    {
        _config = info.Config;
        _schemes = plan.Resolve(info.Config);
        _results.Clear();
        _kvCache.Clear();
        if (_store is null || !keepResults) return;
        for (var layer = 0; layer < info.FirstLayer; layer++)
        {
            var saved = _store.Load(layer)
                ?? throw new QuantizationConfigException($"{_store.PathOf(layer)}: missing GPTQ results of layer {layer} for the resumed job; start the job again without --resume");
            foreach (var r in saved) _results[r.Module] = r;
            if (_store.LoadKvCache(layer) is { } kv) _kvCache[layer] = kv;
        }
    }

    public void OnCalibrationStart() { }

    /// <inheritdoc />
    public ICalibrationCapture? BeginLayer(int layer)
    {
        var config = _config ?? throw new InvalidOperationException("OnInitialize was not called");
        var capture = new LayerCapture(config, layer, _schemes!, method, plan.KvCacheScheme);
        if (!capture.IsNeeded) return null;
        _captures[layer] = capture;
        return capture;
    }

    public void OnSequentialEpochEnd(int layer, ILayerContext context)
    {
        var config = _config ?? throw new InvalidOperationException("OnInitialize was not called");
        _captures.Remove(layer, out var capture);
        var names = new HashSet<string>(context.ParameterNames, StringComparer.Ordinal);
        using var weights = DecoderLayerWeights.From(config, layer, n => names.Contains(n) ? context.GetParameter(n) : null, $"layer {layer}");
        var timings = new LayerTimings();
        var quantized = LayerQuantizer.Solve(config, layer, weights, _schemes!, method, capture, context.BatchCount, _options, timings, plan.KvCacheScheme);
        var results = quantized.Linears;
        Timings[layer] = timings;
        _store?.Save(layer, results, quantized.KvCache);
        if (quantized.KvCache is { } kv && (keepResults || _store is null)) _kvCache[layer] = kv;
        foreach (var r in results)
        {
            context.ReplaceParameter(ModuleNames.Weight(r.Module), r.WeightTensor());
            if (keepResults || _store is null) _results[r.Module] = r;
        }
    }

    public void OnCalibrationEnd() { }

    public void OnFinalize() { }
}
