namespace Offload.Model.Evaluation;

/// <summary>Mean token NLL (nats/token) over <see cref="Tokens"/> scored positions, its perplexity, and the mean per window.</summary>
public sealed record EvalResult(double MeanNll, long Tokens, IReadOnlyList<double> WindowNll)
{
    /// <summary>exp(mean NLL).</summary>
    public double Perplexity => Math.Exp(MeanNll);
}
