namespace Offload.Model.Evaluation;

/// <summary>Negative log-likelihood of a target under a row of logits, in f64: logsumexp(logits) − logits[target].</summary>
public static class TokenNll
{
    /// <summary>logits: [vocab] f32 → −log softmax(logits)[target] in nats.</summary>
    public static double Of(ReadOnlySpan<float> logits, int target)
    {
        if ((uint)target >= (uint)logits.Length) throw new ArgumentOutOfRangeException(nameof(target), $"target {target} outside [0, {logits.Length})");
        return LogSumExp(logits) - logits[target];
    }

    /// <summary>log Σ exp(x), max-shifted, accumulated in f64.</summary>
    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        double max = System.Numerics.Tensors.TensorPrimitives.Max(x);
        double sum = 0;
        foreach (var v in x) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }
}
