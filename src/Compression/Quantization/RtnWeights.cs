using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Compression.Quantization;

/// <summary>
/// Round-to-nearest weight fake-quantization of one decoder layer (what the QuantizationModifier's qparams give at
/// compression time): each targeted linear's weight is observed and replaced by (round(w/s + zp) − zp)·s in its dtype.
/// </summary>
public static class RtnWeights
{
    /// <summary>w: [out, in] in any float dtype → the fake-quantized weight in the same dtype, with its qparams.</summary>
    public static (Tensor Weight, QParams QParams) FakeQuantize(Tensor w, QuantizationArgs args, string module, float? fusedAbsMax = null)
    {
        if (w.Rank != 2) throw new ArgumentException($"{module}: expected a [out, in] weight, got {w}");
        var rows = checked((int)w.Dim(0));
        var cols = checked((int)w.Dim(1));
        var values = w.ToFloatArray();
        var qp = WeightObserver.Observe(values, rows, cols, args, w.DType, module, fusedAbsMax);
        WeightQuantizer.FakeQuantize(values, qp, args, WeightQuantizer.ComputeDType(w.DType, qp), values);
        using var f32 = Tensor.FromArray(values, rows, cols);
        return (w.DType == DType.F32 ? f32.Clone() : f32.To(w.DType), qp);
    }

    /// <summary>
    /// A copy of layer <paramref name="layer"/>'s weights with every linear the plan gives weight args fake-quantized
    /// (others shared). The result owns its tensors.
    /// </summary>
    public static DecoderLayerWeights Apply(DecoderLayerWeights weights, int layer, IReadOnlyDictionary<string, QuantizationScheme> schemes,
        Model.Config.LlamaConfig config)
    {
        var named = weights.Named(layer).ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        var fused = FusedGlobalScales.AbsMax(layer, schemes, m => named[ModuleNames.Weight(m)]);
        return DecoderLayerWeights.From(config, layer, name =>
        {
            if (!named.TryGetValue(name, out var t)) return null;
            var module = name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^".weight".Length] : null;
            if (module is not null && schemes.TryGetValue(module, out var s) && s.Weights is { } a)
                return FakeQuantize(t, a, module, fused.TryGetValue(module, out var f) ? f : null).Weight;
            return t.Share();
        }, "fake-quantized layer");
    }
}
