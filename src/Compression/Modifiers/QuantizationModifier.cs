using Offload.Compression.Gptq;
using Offload.Compression.Quantization;
using Offload.Compression.Sequential;
using Offload.Model.Config;
using Offload.Model.Forward;

namespace Offload.Compression.Modifiers;

/// <summary>
/// llm-compressor's QuantizationModifier (round to nearest) as a sequential-job listener: at each layer's
/// SEQUENTIAL_EPOCH_END it observes every targeted linear's weight and records its qparams and fake-quantized weight
/// in <see cref="Results"/>. As in the reference the weight in the model is left unchanged (rounding happens when the
/// checkpoint is written), and no calibration data is needed for the int presets (dynamic activations).
/// </summary>
public sealed class QuantizationModifier(QuantizationPlan plan) : IJobListener
{
    private readonly Dictionary<string, LinearQuantization> _results = new(StringComparer.Ordinal);
    private LlamaConfig? _config;
    private IReadOnlyDictionary<string, QuantizationScheme>? _schemes;

    public QuantizationPlan Plan => plan;

    public IReadOnlyDictionary<string, LinearQuantization> Results => _results;

    public void OnInitialize(JobStartInfo info)
    {
        _config = info.Config;
        _schemes = plan.Resolve(info.Config);
    }

    public void OnCalibrationStart() { }

    public void OnSequentialEpochEnd(int layer, ILayerContext context)
    {
        var config = _config ?? throw new InvalidOperationException("OnInitialize was not called");
        var names = new HashSet<string>(context.ParameterNames, StringComparer.Ordinal);
        using var weights = DecoderLayerWeights.From(config, layer, n => names.Contains(n) ? context.GetParameter(n) : null, $"layer {layer}");
        foreach (var r in LayerQuantizer.Quantize(config, layer, weights, _schemes!, QuantizationMethod.Rtn, null, 0)) _results[r.Module] = r;
    }

    public void OnCalibrationEnd() { }

    public void OnFinalize() { }
}
