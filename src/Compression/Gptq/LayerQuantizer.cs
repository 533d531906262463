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
/// Quantizes the linears of one decoder layer (spec §6.3–6.4, §8) from what its calibration pass captured
/// (<see cref="LayerCapture"/>: GPTQ's Hessians, the static input activations' ranges, the KV cache's ranges). RTN:
/// observer qparams, round to nearest. GPTQ: each linear solved with <see cref="GptqSolver"/> on its input's Hessian
/// (concurrently when allowed). The runtime captures inside its replicas' forwards; <see cref="QuantizeLayer"/> also
/// runs the calibration pass itself for a resident layer (quality tables, tests).
/// </summary>
public static class LayerQuantizer
{
    /// <summary>The layer's linears with a weight scheme, in module order, with the input each reads.</summary>
    public static IReadOnlyList<(string Module, QuantizationScheme Scheme, LinearInput Site)> Modules(int layer, IReadOnlyDictionary<string, QuantizationScheme> schemes)
    {
        var modules = new List<(string Module, QuantizationScheme Scheme, LinearInput Site)>();
        foreach (var site in LinearInputs.All)
        foreach (var m in LinearInputs.Modules(layer, site))
            if (schemes.TryGetValue(m, out var s) && s.Weights is not null) modules.Add((m, s, site));
        return modules;
    }

    /// <summary>
    /// <see cref="QuantizeLayer"/>'s linears. <paramref name="before"/> run ahead of the capture on each linear input
    /// (online rotations). <paramref name="inputs"/>(b) gives calibration batch b as [batch, seq, hidden] f32 (disposed
    /// here); it is only read when the layer needs a calibration pass.
    /// </summary>
    public static IReadOnlyList<LinearQuantization> Quantize(LlamaConfig config, int layer, DecoderLayerWeights weights,
        IReadOnlyDictionary<string, QuantizationScheme> schemes, QuantizationMethod method, Func<int, Tensor>? inputs, int batchCount,
        GptqOptions? options = null, LayerTimings? timings = null, IReadOnlyList<ILinearInputHook>? before = null) =>
        QuantizeLayer(config, layer, weights, schemes, method, inputs, batchCount, options, timings, before).Linears;

    /// <summary>
    /// Runs the calibration pass of a resident layer (<paramref name="inputs"/> through <paramref name="weights"/> with the
    /// <paramref name="before"/> hooks, then the capture) and quantizes it (<see cref="Solve"/>); with
    /// <paramref name="kvCache"/> (the plan's kv_cache_scheme) the post-RoPE keys and the values are observed in the same
    /// pass, after the hooks (so after SpinQuant's R3).
    /// </summary>
    public static LayerQuantization QuantizeLayer(LlamaConfig config, int layer, DecoderLayerWeights weights,
        IReadOnlyDictionary<string, QuantizationScheme> schemes, QuantizationMethod method, Func<int, Tensor>? inputs, int batchCount,
        GptqOptions? options = null, LayerTimings? timings = null, IReadOnlyList<ILinearInputHook>? before = null, QuantizationArgs? kvCache = null)
    {
        var capture = new LayerCapture(config, layer, schemes, method, kvCache);
        if (capture.IsNeeded)
        {
            if (inputs is null || batchCount == 0) throw new ArgumentException($"layer {layer}: the calibration pass needs calibration inputs");
            var t0 = Stopwatch.GetTimestamp();
            using var forward = new DecoderLayer(config, layer, FakeQuantModel.Shared(weights, layer, config), new RotaryEmbedding(config)) { Hooks = before };
            for (var b = 0; b < batchCount; b++)
            {
                using var x = inputs(b);
                var hooks = capture.BeginBatch(b);
                using var y = forward.Forward(x, null, hooks);
                capture.EndBatch(b);
            }
            if (timings is not null) timings.Forward += Stopwatch.GetElapsedTime(t0).TotalSeconds - capture.HessianSeconds;
        }
        return Solve(config, layer, weights, schemes, method, capture.IsNeeded ? capture : null, batchCount, options, timings, kvCache);
    }

    /// <summary>
    /// Quantizes the layer's linears from <paramref name="capture"/> (all <paramref name="batchCount"/> batches merged;
    /// null when the layer needs no calibration pass); the KV-cache scales are computed in the dtype of q_proj's weight
    /// (the attention module's first parameter).
    /// </summary>
    public static LayerQuantization Solve(LlamaConfig config, int layer, DecoderLayerWeights weights,
        IReadOnlyDictionary<string, QuantizationScheme> schemes, QuantizationMethod method, LayerCapture? capture, int batchCount,
        GptqOptions? options = null, LayerTimings? timings = null, QuantizationArgs? kvCache = null)
    {
        options ??= new GptqOptions();
        var named = weights.Named(layer).ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        var modules = Modules(layer, schemes);
        if (modules.Count == 0 && kvCache is null) return new LayerQuantization([], null);
        var needed = (method == QuantizationMethod.Gptq && modules.Count > 0) || kvCache is not null
            || modules.Any(m => m.Scheme.InputActivations is { Dynamic: not DynamicMode.Dynamic });
        if (needed && capture is null) throw new ArgumentException($"layer {layer}: GPTQ, static input activations and kv_cache_scheme need the calibration pass's capture");
        if (timings is not null && capture is not null) timings.Hessian += capture.HessianSeconds;
        var inputScales = modules.Count > 0 ? capture?.InputScales(batchCount, named[ModuleNames.Weight(modules[0].Module)].DType) : null;
        var kvScales = kvCache is null ? null : capture!.KvScales(batchCount, weights.QProj.DType);
        if (modules.Count == 0) return new LayerQuantization([], kvScales);
        StaticInputScale? InputOf(LinearInput site) => inputScales is not null && inputScales.TryGetValue(site, out var v) ? v : null;

        var fused = FusedGlobalScales.AbsMax(layer, schemes, m => named[ModuleNames.Weight(m)]);
        var results = new LinearQuantization[modules.Count];
        var ts = Stopwatch.GetTimestamp();
        var resolvedArgs = modules.Select(m => method == QuantizationMethod.Gptq ? ResolveActOrder(m.Scheme.Weights!, options.DefaultActOrder, m.Module) : m.Scheme.Weights!).ToArray();
        void Solve(int i, GptqFactor? factor)
        {
            var (module, scheme, site) = modules[i];
            var w = named[ModuleNames.Weight(module)];
            var rows = checked((int)w.Dim(0));
            var cols = checked((int)w.Dim(1));
            var values = w.ToFloatArray();
            if (w.Storage is Offload.Tensors.Storage.MappedStorage mapped) mapped.DropResident(); // read once: the values are in hand
            var args = resolvedArgs[i];
            if (factor is null)
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
            var r = GptqSolver.QuantizeWeight(values, rows, cols, factor, args, w.DType, options, module,
                fused.TryGetValue(module, out var fa) ? fa : null);
            span?.SetTag(OffloadTelemetry.AttrGptqLoss, r.Loss);
            OffloadTelemetry.GptqLossHistogram.Record(r.Loss, new KeyValuePair<string, object?>(OffloadTelemetry.AttrGptqModule, module[(module.LastIndexOf('.') + 1)..]));
            results[i] = new LinearQuantization(module, scheme.WithWeights(args), r.Weight, rows, cols, w.DType, r.QParams, r.GIdx, r.Loss, r.FellBackToRtn,
                Input: InputOf(site));
        }
        if (method == QuantizationMethod.Rtn)
        {
            // Round to nearest: element loops without BLAS, one linear per core.
            Parallel.For(0, modules.Count, i => Solve(i, null));
        }
        else
        {
            // The work items, largest first: one factor of H⁻¹ per (input, ordered) — q/k/v and gate/up share theirs — then
            // the linears that use it, one after another. Each step uses every core by itself (BLAS threads for the factor
            // and the sweep's trailing updates, fixed row chunks for the sweep's element loops), so nothing oversubscribes
            // the BLAS threads, and only one factor (and its Hessian) is alive at a time.
            var items = Enumerable.Range(0, modules.Count)
                .GroupBy(i => (modules[i].Site, Ordered: resolvedArgs[i].ActOrder is not null))
                .Select(g => (g.Key, Modules: g.ToArray(), Work: g.Sum(i => Work(named[ModuleNames.Weight(modules[i].Module)]))))
                .OrderByDescending(x => x.Work).ThenBy(x => x.Modules[0])
                .ToList();
            var lastUse = items.GroupBy(x => x.Key.Site).ToDictionary(g => g.Key, g => g.Last().Modules[0]);
            foreach (var (key, members, _) in items)
            {
                var h = capture!.Hessian(key.Site, batchCount);
                var last = lastUse[key.Site] == members[0];
                var factor = GptqSolver.Factor(h, (int)Math.Sqrt(h.Length), key.Ordered, options, consumeH: last);
                if (last) capture!.Release(key.Site);
                // The factor's f64 work matrix (8·n² bytes) is garbage now: collect it before the sweep allocates, so
                // the process's peak is one factor, not every factor since the last collection (large objects are
                // otherwise collected only when the GC's budget says so).
                GC.Collect(2, GCCollectionMode.Forced, blocking: true);
                foreach (var i in members) Solve(i, factor);
            }
        }
        if (timings is not null) timings.Solve += Stopwatch.GetElapsedTime(ts).TotalSeconds;
        return new LayerQuantization(results, kvScales);
    }

    // Multiply-adds of a linear's solve, dominated by the sweep's trailing updates: rows · cols².
    private static double Work(Tensor w) => (double)w.Dim(0) * w.Dim(1) * w.Dim(1);

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
