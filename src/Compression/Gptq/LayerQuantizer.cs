using System.Diagnostics;
using Offload.Compression.Quantization;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.Compression.Gptq;

/// <summary>
/// Quantizes the linears of one decoder layer (spec §6.3–6.4, §8). Static input activations (FP8, NVFP4) and the KV
/// cache (kv_cache_scheme) are observed over the calibration inputs in the same hooked forward
/// (<see cref="InputRangeObserver"/>, <see cref="KvCacheObserver"/>). RTN: observer qparams, round to nearest. GPTQ: the
/// layer's calibration inputs run through the unquantized layer once (activation quantization off), accumulating one
/// Hessian per linear input (q/k/v share one, gate/up share one; o_proj/down_proj see the unquantized sublayers'
/// outputs), then each linear is solved with <see cref="GptqSolver"/> (concurrently when allowed).
/// </summary>
public static class LayerQuantizer
{
    /// <summary>
    /// <paramref name="before"/> run ahead of the Hessian capture on each linear input (online rotations).
    /// <paramref name="inputs"/>(b) gives calibration batch b as [batch, seq, hidden] f32 (disposed here); it is only read for GPTQ.
    /// Returns one result per quantized linear of the layer, in module order.
    /// </summary>
    public static IReadOnlyList<LinearQuantization> Quantize(LlamaConfig config, int layer, DecoderLayerWeights weights,
        IReadOnlyDictionary<string, QuantizationScheme> schemes, QuantizationMethod method, Func<int, Tensor>? inputs, int batchCount,
        GptqOptions? options = null, LayerTimings? timings = null, IReadOnlyList<ILinearInputHook>? before = null) =>
        QuantizeLayer(config, layer, weights, schemes, method, inputs, batchCount, options, timings, before).Linears;

    /// <summary>
    /// <see cref="Quantize"/>, plus the layer's KV-cache scales when <paramref name="kvCache"/> (the plan's
    /// kv_cache_scheme) is given: the post-RoPE keys and the values are observed in the same calibration pass
    /// (<see cref="KvCacheObserver"/>, after the <paramref name="before"/> hooks, so after SpinQuant's R3) and k_scale /
    /// v_scale computed in the dtype of q_proj's weight (the attention module's first parameter).
    /// </summary>
    public static LayerQuantization QuantizeLayer(LlamaConfig config, int layer, DecoderLayerWeights weights,
        IReadOnlyDictionary<string, QuantizationScheme> schemes, QuantizationMethod method, Func<int, Tensor>? inputs, int batchCount,
        GptqOptions? options = null, LayerTimings? timings = null, IReadOnlyList<ILinearInputHook>? before = null, QuantizationArgs? kvCache = null)
    {
        options ??= new GptqOptions();
        var named = weights.Named(layer).ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        var modules = new List<(string Module, QuantizationScheme Scheme, LinearInput Site)>();
        foreach (var site in LinearInputs.All)
        foreach (var m in LinearInputs.Modules(layer, site))
            if (schemes.TryGetValue(m, out var s) && s.Weights is not null) modules.Add((m, s, site));
        if (modules.Count == 0 && kvCache is null) return new LayerQuantization([], null);

        // Static input activations (FP8 input_scale, NVFP4 input_global_scale) are observed in the same calibration pass.
        var staticSites = new Dictionary<LinearInput, QuantizationArgs>();
        foreach (var (_, scheme, site) in modules)
            if (scheme.InputActivations is { Dynamic: not DynamicMode.Dynamic } ia) staticSites.TryAdd(site, ia);
        IReadOnlyDictionary<LinearInput, float[]>? hessians = null;
        IReadOnlyDictionary<LinearInput, StaticInputScale>? inputScales = null;
        KvCacheScales? kvScales = null;
        var gptq = method == QuantizationMethod.Gptq && modules.Count > 0;
        if (gptq || staticSites.Count > 0 || kvCache is not null)
        {
            if (inputs is null || batchCount == 0)
                throw new ArgumentException($"layer {layer}: {(gptq ? "GPTQ" : staticSites.Count > 0 ? "static input activations" : "kv_cache_scheme")} need calibration inputs");
            var sites = modules.Select(m => m.Site).Distinct().ToDictionary(s => s, s => checked((int)named[ModuleNames.Weight(modules.First(m => m.Site == s).Module)].Dim(1)));
            var capture = gptq ? new HessianCaptureHook(layer, sites) : null;
            var observer = staticSites.Count > 0 ? new InputRangeObserver(layer, staticSites) : null;
            var kvObserver = kvCache is null ? null : new KvCacheObserver(layer, kvCache, config);
            var rope = new RotaryEmbedding(config);
            var hookList = new List<ILinearInputHook>(before ?? []);
            if (capture is not null) hookList.Add(capture);
            if (observer is not null) hookList.Add(observer);
            if (kvObserver is not null) hookList.Add(kvObserver);
            using var hooked = new HookedDecoderLayer(config, layer, weights, rope, hookList, ownsWeights: false);
            var t0 = Stopwatch.GetTimestamp();
            for (var b = 0; b < batchCount; b++)
            {
                using var x = inputs(b);
                using var y = hooked.Forward(x);
            }
            var elapsed = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (timings is not null)
            {
                timings.Hessian += capture?.Seconds ?? 0;
                timings.Forward += elapsed - (capture?.Seconds ?? 0);
            }
            hessians = capture?.Hessians.ToDictionary(p => p.Key, p => p.Value.Normalized());
            inputScales = observer?.Scales(named[ModuleNames.Weight(modules[0].Module)].DType);
            kvScales = kvObserver?.Scales(weights.QProj.DType);
        }
        if (modules.Count == 0) return new LayerQuantization([], kvScales);
        StaticInputScale? InputOf(LinearInput site) => inputScales is not null && inputScales.TryGetValue(site, out var v) ? v : null;

        var fused = FusedGlobalScales.AbsMax(layer, schemes, m => named[ModuleNames.Weight(m)]);
        var results = new LinearQuantization[modules.Count];
        var ts = Stopwatch.GetTimestamp();
        var resolvedArgs = modules.Select(m => method == QuantizationMethod.Gptq ? ResolveActOrder(m.Scheme.Weights!, options.DefaultActOrder, m.Module) : m.Scheme.Weights!).ToArray();
        // One factor per (input, ordered): q/k/v and gate/up share their Hessian's factor.
        var factors = new Dictionary<(LinearInput, bool), GptqFactor>();
        if (method == QuantizationMethod.Gptq)
        {
            var keys = modules.Select((m, i) => (m.Site, resolvedArgs[i].ActOrder is not null)).Distinct().ToArray();
            var computed = new GptqFactor[keys.Length];
            void Factor(int k) => computed[k] = GptqSolver.Factor(hessians![keys[k].Site], (int)Math.Sqrt(hessians[keys[k].Site].Length), keys[k].Item2, options);
            if (options.ParallelSolves) Parallel.For(0, keys.Length, Factor);
            else for (var k = 0; k < keys.Length; k++) Factor(k);
            for (var k = 0; k < keys.Length; k++) factors[keys[k]] = computed[k];
        }
        void Solve(int i)
        {
            var (module, scheme, site) = modules[i];
            var w = named[ModuleNames.Weight(module)];
            var rows = checked((int)w.Dim(0));
            var cols = checked((int)w.Dim(1));
            var values = w.ToFloatArray();
            var args = resolvedArgs[i];
            if (method == QuantizationMethod.Rtn)
            {
                var qp = WeightObserver.Observe(values, rows, cols, args, w.DType, module, fused.TryGetValue(module, out var a) ? a : null);
                var fq = new float[values.Length];
                WeightQuantizer.FakeQuantize(values, qp, args, WeightQuantizer.ComputeDType(w.DType, qp), fq);
                results[i] = new LinearQuantization(module, scheme, fq, rows, cols, w.DType, qp, null, 0, false, values, InputOf(site));
                return;
            }
            using var span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.GptqModuleSpan);
            span?.SetTag(OffloadTelemetry.AttrGptqModule, module);
            span?.SetTag(OffloadTelemetry.AttrLayer, layer);
            var r = GptqSolver.QuantizeWeight(values, rows, cols, factors[(site, args.ActOrder is not null)], args, w.DType, options, module,
                fused.TryGetValue(module, out var fa) ? fa : null);
            span?.SetTag(OffloadTelemetry.AttrGptqLoss, r.Loss);
            OffloadTelemetry.GptqLossHistogram.Record(r.Loss, new KeyValuePair<string, object?>(OffloadTelemetry.AttrGptqModule, module[(module.LastIndexOf('.') + 1)..]));
            results[i] = new LinearQuantization(module, scheme.WithWeights(args), r.Weight, rows, cols, w.DType, r.QParams, r.GIdx, r.Loss, r.FellBackToRtn,
                Input: InputOf(site));
        }
        if (options.ParallelSolves) Parallel.For(0, modules.Count, Solve);
        else for (var i = 0; i < modules.Count; i++) Solve(i);
        if (timings is not null) timings.Solve += Stopwatch.GetElapsedTime(ts).TotalSeconds;
        return new LayerQuantization(results, kvScales);
    }

    /// <summary>
    /// GPTQ's actorder (spec §8.1): the scheme's own, else <paramref name="fallback"/>; group order on a strategy without
    /// groups falls back to none.
    /// </summary>
    public static QuantizationArgs ResolveActOrder(QuantizationArgs args, ActivationOrdering? fallback, string module)
    {
        var a = args.ActOrder ?? fallback;
        if (a is ActivationOrdering.Group or ActivationOrdering.Dynamic && args.Strategy is not (QuantizationStrategy.Group or QuantizationStrategy.TensorGroup))
            a = null;
        return a == args.ActOrder ? args : args.WithActOrder(a, module);
    }

    /// <summary>A copy of <paramref name="weights"/> with the quantized linears' weights replaced (others shared); owned by the caller.</summary>
    public static DecoderLayerWeights Replace(LlamaConfig config, int layer, DecoderLayerWeights weights, IReadOnlyList<LinearQuantization> results)
    {
        var named = weights.Named(layer).ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        var byName = results.ToDictionary(r => ModuleNames.Weight(r.Module), StringComparer.Ordinal);
        return DecoderLayerWeights.From(config, layer, n =>
            byName.TryGetValue(n, out var r) ? r.WeightTensor() : named.TryGetValue(n, out var t) ? t.Share() : null, "quantized layer");
    }
}
