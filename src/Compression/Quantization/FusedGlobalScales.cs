using Offload.Model.Naming;
using Offload.Tensors;

namespace Offload.Compression.Quantization;

/// <summary>
/// NVFP4's fused global scales (spec §4.4): within a decoder layer, q/k/v and gate/up whose weights are all quantized
/// with strategy tensor_group share one global scale, taken from the largest |value| over all their weights.
/// </summary>
public static class FusedGlobalScales
{
    /// <summary>
    /// Module → the fused largest |value| for every tensor_group module of layer <paramref name="layer"/> that belongs to a
    /// fully tensor_group-quantized fusion group; <paramref name="weight"/>(module) gives its [out, in] weight.
    /// </summary>
    public static IReadOnlyDictionary<string, float> AbsMax(int layer, IReadOnlyDictionary<string, QuantizationScheme> schemes, Func<string, Tensor> weight)
    {
        var result = new Dictionary<string, float>(StringComparer.Ordinal);
        string[][] fusions =
        [
            [ModuleNames.QProj(layer), ModuleNames.KProj(layer), ModuleNames.VProj(layer)],
            [ModuleNames.GateProj(layer), ModuleNames.UpProj(layer)],
        ];
        foreach (var members in fusions)
        {
            var all = true;
            foreach (var m in members)
                if (!schemes.TryGetValue(m, out var s) || s.Weights is not { Strategy: QuantizationStrategy.TensorGroup }) all = false;
            if (!all) continue;
            var a = 0f;
            foreach (var m in members)
            {
                var values = weight(m).ToFloatArray();
                foreach (var v in values) a = MathF.Max(a, MathF.Abs(v));
            }
            foreach (var m in members) result[m] = a;
        }
        return result;
    }
}
