namespace Offload.Model.Evaluation;

/// <summary>
/// Magnitude statistics of activations [tokens, hidden]: the largest |x|, the RMS over all entries, the channel of
/// the largest |x|, and the ratio of the largest per-channel RMS to the median per-channel RMS.
/// </summary>
public sealed record ActivationStats(double MaxAbs, double Rms, int MaxChannel, double TopChannelRatio)
{
    /// <summary>max |x| / RMS(x): ≈ 3–5 for Gaussian-like activations, ≥ 20 with outlier channels or massive activations.</summary>
    public double MaxOverRms => Rms > 0 ? MaxAbs / Rms : 0;
}
