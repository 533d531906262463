using Offload.Model.Forward;
using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// Observes the calibration inputs of the linears with static input activations (formats spec §1.6): per linear input
/// of one layer, the batch's min and max (over every token and column: strategy tensor, and NVFP4's tensor_group whose
/// only calibrated value is the global scale) fed to the configured observer — static_minmax keeps the running min/max
/// over all batches, memoryless_minmax only the last batch's, minmax a moving average old·(1−c) + new·c (c =
/// averaging_constant, 0.01). <see cref="Scales"/> then gives each site's calibrated scales.
/// </summary>
public sealed class InputRangeObserver : ILinearInputHook
{
    private readonly int _layer;
    private readonly Dictionary<LinearInput, QuantizationArgs> _args;
    private readonly Dictionary<LinearInput, (float Min, float Max)> _ranges = [];

    /// <param name="args">the static input args of each observed site (linears sharing an input share their args).</param>
    public InputRangeObserver(int layer, IReadOnlyDictionary<LinearInput, QuantizationArgs> args)
    {
        _layer = layer;
        _args = new Dictionary<LinearInput, QuantizationArgs>(args);
        foreach (var (site, a) in _args)
        {
            if (a.Strategy is not (QuantizationStrategy.Tensor or QuantizationStrategy.TensorGroup))
                throw new QuantizationConfigException($"layer {layer} {site}: static input activations with strategy '{a.Strategy.ToName()}' are not supported; use strategy tensor (or NVFP4's tensor_group with dynamic: local)");
        }
    }

    public void OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences)
    {
        if (layer != _layer || !_args.ContainsKey(site)) return;
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        foreach (var v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        Feed(site, min, max);
    }

    /// <summary>
    /// Feeds the batches <paramref name="batch"/> observed (an observer of the same sites that saw one batch each), as if
    /// they had come here; call in batch order.
    /// </summary>
    public void Absorb(InputRangeObserver batch)
    {
        foreach (var (site, r) in batch._ranges) Feed(site, r.Min, r.Max);
    }

    private void Feed(LinearInput site, float min, float max)
    {
        var a = _args[site];
        if (!_ranges.TryGetValue(site, out var old))
        {
            _ranges[site] = (min, max);
            return;
        }
        _ranges[site] = a.Observer switch
        {
            "static_minmax" => (MathF.Min(old.Min, min), MathF.Max(old.Max, max)),
            "minmax" => (Ema(old.Min, min, a), Ema(old.Max, max, a)),
            _ => (min, max),
        };
    }

    private static float Ema(float old, float now, QuantizationArgs a)
    {
        var c = (float)a.Kwarg("averaging_constant", 0.01);
        return old * (1 - c) + now * c;
    }

    /// <summary>
    /// The calibrated scales of each observed site, computed in <paramref name="dtype"/> (the model's): FP8 / int
    /// tensor → absmax / qmax (qparams of spec §1.3); NVFP4 local → the global scale 448·6 / absmax.
    /// </summary>
    public IReadOnlyDictionary<LinearInput, StaticInputScale> Scales(DType dtype)
    {
        var result = new Dictionary<LinearInput, StaticInputScale>();
        foreach (var (site, a) in _args)
        {
            if (!_ranges.TryGetValue(site, out var r)) continue;
            var min = QuantMath.RoundTo(r.Min, dtype);
            var max = QuantMath.RoundTo(r.Max, dtype);
            if (a.Strategy == QuantizationStrategy.TensorGroup)
            {
                result[site] = new StaticInputScale(null, QuantMath.GlobalScale(MathF.Max(MathF.Abs(min), MathF.Abs(max)), dtype));
            }
            else
            {
                if (!a.Symmetric)
                    throw new QuantizationConfigException($"layer {_layer} {site}: asymmetric static input activations are not supported; set symmetric: true");
                result[site] = new StaticInputScale(QuantMath.Calculate(min, max, a, dtype, dtype).Scale, null);
            }
        }
        return result;
    }
}
