using Offload.Compression.Quantization;

namespace Offload.Compression.Gptq;

/// <summary>
/// Accumulates one GPTQ Hessian per linear input of one layer (q/k/v share the attention input's, gate/up the MLP
/// input's) from the <see cref="HookedDecoderLayer"/> forward; inputs are only read.
/// </summary>
public sealed class HessianCaptureHook(int layer, IReadOnlyDictionary<LinearInput, int> sites) : ILinearInputHook
{
    private readonly Dictionary<LinearInput, HessianAccumulator> _acc = sites.ToDictionary(p => p.Key, p => new HessianAccumulator(p.Value));

    /// <summary>Seconds spent in the rank-k updates.</summary>
    public double Seconds { get; private set; }

    public IReadOnlyDictionary<LinearInput, HessianAccumulator> Hessians => _acc;

    public void OnInput(int layerIndex, LinearInput site, Span<float> x, int tokens, int width, int sequences)
    {
        if (layerIndex != layer || !_acc.TryGetValue(site, out var a)) return;
        var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        a.Add(x, tokens, sequences);
        Seconds += System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }
}
