using Offload.Model.Config;

namespace Offload.Compression.Quantization;

/// <summary>
/// Dynamic input-activation fake-quantization per the plan (the A8/A4 of W8A8, W4A8, W4A4): at each linear input the
/// args of the linears reading it are applied in place. Linears that share an input (q/k/v, gate/up) must share the
/// activation args.
/// </summary>
public sealed class ActivationQuantHook : ILinearInputHook
{
    private readonly Dictionary<(int, LinearInput), QuantizationArgs> _args = [];

    public ActivationQuantHook(LlamaConfig config, IReadOnlyDictionary<string, QuantizationScheme> schemes)
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
            if (!first.IsDynamic)
                throw new QuantizationConfigException($"quantization plan: static input activations of {modules[0]} need calibrated scales, which this runtime does not compute; use dynamic: true");
            _args[(layer, site)] = first;
        }
    }

    /// <summary>True when some input is quantized.</summary>
    public bool IsActive => _args.Count > 0;

    public void OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences)
    {
        if (_args.TryGetValue((layer, site), out var a)) ActivationQuantizer.FakeQuantizeDynamic(x, tokens, width, a);
    }
}
