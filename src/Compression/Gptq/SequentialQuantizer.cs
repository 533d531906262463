using Offload.Compression.Quantization;
using Offload.Model.Forward;
using Offload.Tensors;

namespace Offload.Compression.Gptq;

/// <summary>
/// The sequential pipeline of spec §6.3 in one process over a resident model (for quality tables and tests; the
/// offloading job drives the same <see cref="LayerQuantizer"/> through <see cref="GptqModifier"/>): embed the calibration
/// windows, then per layer quantize (RTN, or GPTQ on Hessians from the layer's inputs) and run the quantized layer to
/// produce the next layer's inputs (error propagation; with <c>propagateError</c> false the unquantized outputs are
/// used instead). Activation quantization is off during calibration.
/// </summary>
public sealed class SequentialQuantizer
{
    /// <summary>The per-layer quantized weights (owned) and every linear's result.</summary>
    public sealed class Result : IDisposable
    {
        public required IReadOnlyList<DecoderLayerWeights> Layers { get; init; }
        public required IReadOnlyList<LinearQuantization> Linears { get; init; }
        public required IReadOnlyList<LayerTimings> Timings { get; init; }

        /// <summary>An evaluation model: these weights plus the plan's activation quantization (and extra hooks first).</summary>
        public CausalLM CreateModel(CausalLM source, IReadOnlyDictionary<string, QuantizationScheme> schemes, IReadOnlyList<ILinearInputHook>? before = null)
        {
            var hooks = new List<ILinearInputHook>(before ?? []) { new ActivationQuantHook(source.Config, schemes) };
            return FakeQuantModel.Create(source, (i, _) => FakeQuantModel.Shared(Layers[i], i, source.Config), hooks);
        }

        public void Dispose()
        {
            foreach (var l in Layers) l.Dispose();
        }
    }

    /// <summary>
    /// calibration: [count · seqLen] tokens. <paramref name="hooks"/> run on every linear input during calibration and
    /// propagation (e.g. online rotations, so Hessians see rotated inputs).
    /// </summary>
    public static Result Run(CausalLM model, IReadOnlyDictionary<string, QuantizationScheme> schemes, ReadOnlySpan<int> calibration, int seqLen,
        QuantizationMethod method, GptqOptions? options = null, bool propagateError = true, int batch = 8, IReadOnlyList<ILinearInputHook>? hooks = null)
    {
        var config = model.Config;
        var count = calibration.Length / seqLen;
        var batches = new List<Tensor>();
        var layers = new List<DecoderLayerWeights>();
        var linears = new List<LinearQuantization>();
        var timings = new List<LayerTimings>();
        var rope = new RotaryEmbedding(config);
        try
        {
            if (method == QuantizationMethod.Gptq)
                for (var w0 = 0; w0 < count; w0 += batch)
                {
                    var b = Math.Min(batch, count - w0);
                    batches.Add(model.Embed(calibration.Slice(w0 * seqLen, b * seqLen), b, seqLen));
                }
            for (var i = 0; i < config.NumHiddenLayers; i++)
            {
                var t = new LayerTimings();
                timings.Add(t);
                var source = model.Layers.Acquire(i);
                try
                {
                    var weights = ((DecoderLayer)source).Weights;
                    var inputHooks = hooks ?? [];
                    // The hooks (online rotations) are part of the layer the Hessians see: the capture runs behind them.
                    var results = LayerQuantizer.Quantize(config, i, weights, schemes, method, b => batches[b].Share(), batches.Count, options, t, inputHooks);
                    linears.AddRange(results);
                    var quantized = LayerQuantizer.Replace(config, i, weights, results);
                    layers.Add(quantized);
                    if (method == QuantizationMethod.Gptq && i + 1 < config.NumHiddenLayers)
                    {
                        var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                        using var next = new DecoderLayer(config, i, FakeQuantModel.Shared(propagateError ? quantized : weights, i, config), rope) { Hooks = inputHooks };
                        for (var b = 0; b < batches.Count; b++)
                        {
                            var y = next.Forward(batches[b]);
                            batches[b].Dispose();
                            batches[b] = y;
                        }
                        t.Propagate += System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
                    }
                }
                finally
                {
                    model.Layers.Release(source);
                }
            }
            return new Result { Layers = layers, Linears = linears, Timings = timings };
        }
        catch
        {
            foreach (var l in layers) l.Dispose();
            throw;
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }
}
