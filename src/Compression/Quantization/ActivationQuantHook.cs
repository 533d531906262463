using Offload.Model.Forward;
using Offload.Model.Config;

namespace Offload.Compression.Quantization;

/// <summary>
/// Input-activation fake-quantization per the plan (the A8/A4 of W8A8, W4A8, W4A4, FP8's and NVFP4's inputs): at each
/// linear input the args of the linears reading it are applied in place — dynamic args from the values themselves,
/// static ones (FP8 tensor, NVFP4 "local") with the calibrated scales of <c>staticScales</c>, read from the first linear
/// of the input (linears sharing an input see the same values, so their calibrated scales are equal). Linears that share
/// an input (q/k/v, gate/up) must share the activation args.
/// </summary>
public sealed class ActivationQuantHook : ILinearInputHook
{
    private readonly Dictionary<(int, LinearInput), QuantizationArgs> _args = [];
    private readonly Dictionary<(int, LinearInput), StaticInputScale> _static = [];

    public ActivationQuantHook(LlamaConfig config, IReadOnlyDictionary<string, QuantizationScheme> schemes,
        Func<string, StaticInputScale?>? staticScales = null)
    {
        for (var layer = 0; layer < config.NumHiddenLayers; layer++)
        foreach (var site in LinearInputs.All)
        {
            QuantizationArgs? first = null;
            var seen = 0;
            var modules = LinearInputs.Modules(layer, site);
            foreach (var m in modules)
            {
                var a = schemes.TryGetValue(m, out var s) ? s.InputActivations : null;
                if (seen++ == 0) first = a;
                else if (!Equals(first, a))
                    throw new QuantizationConfigException($"quantization plan: {string.Join(", ", modules)} read one input but have different input_activations; give them one scheme");
            }
            if (first is null) continue;
            if (first.Dynamic != DynamicMode.Dynamic)
            {
                _static[(layer, site)] = staticScales?.Invoke(modules[0])
                    ?? throw new QuantizationConfigException($"quantization plan: static input activations of {modules[0]} need calibrated scales (a checkpoint's input_scale / input_global_scale); use dynamic: true or load a calibrated checkpoint");
            }
            _args[(layer, site)] = first;
        }
    }

    /// <summary>True when some input is quantized.</summary>
    public bool IsActive => _args.Count > 0;

    public void OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences)
    {
        if (!_args.TryGetValue((layer, site), out var a)) return;
        if (_static.TryGetValue((layer, site), out var s)) ActivationQuantizer.FakeQuantizeStatic(x, tokens, width, a, s);
        else ActivationQuantizer.FakeQuantizeDynamic(x, tokens, width, a);
    }
}
