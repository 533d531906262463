using Offload.Compression.Quantization;
using Offload.Model.Forward;

namespace Offload.Compression.Gptq;

/// <summary>
/// Accumulates one GPTQ Hessian per linear input of one layer (q/k/v share the attention input's, gate/up the MLP
/// input's) from a decoder layer's forward; inputs are only read.
/// </summary>
public sealed class HessianCaptureHook(int layer, IReadOnlyDictionary<LinearInput, HessianAccumulator> accumulators) : ILinearInputHook
{
    /// <summary>Seconds spent in the rank-k updates.</summary>
    public double Seconds { get; private set; }

    public IReadOnlyDictionary<LinearInput, HessianAccumulator> Hessians => accumulators;

    public void OnInput(int layerIndex, LinearInput site, Span<float> x, int tokens, int width, int sequences)
    {
        if (layerIndex != layer || !accumulators.TryGetValue(site, out var a)) return;
        var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        a.Add(x, tokens, sequences);
        Seconds += System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }
}
