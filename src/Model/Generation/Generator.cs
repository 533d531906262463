using Offload.Model.Forward;

namespace Offload.Model.Generation;

/// <summary>Autoregressive decoding with a KV cache: the prompt in one forward, then one token per forward.</summary>
public static class Generator
{
    /// <summary>
    /// Returns the new tokens (not the prompt). <paramref name="onToken"/> sees each one as it is chosen.
    /// Stops early at a stop token or when the context reaches max_position_embeddings.
    /// </summary>
    public static List<int> Generate(CausalLM model, IReadOnlyList<int> prompt, GenerationOptions options, Action<int>? onToken = null)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt needs at least one token (BOS)", nameof(prompt));
        if (options.Temperature < 0 || double.IsNaN(options.Temperature)) throw new ArgumentOutOfRangeException(nameof(options), "temperature must be ≥ 0");
        var vocab = model.Config.VocabSize;
        var maxContext = model.Config.MaxPositionEmbeddings;
        var cache = new KvCache(model.Config, 1);
        var random = new Random(options.Seed);
        var result = new List<int>(options.MaxNewTokens);
        var input = prompt.ToArray();
        while (result.Count < options.MaxNewTokens && cache.Length + input.Length <= maxContext)
        {
            int next;
            using (var logits = model.Forward(input, 1, input.Length, cache)) // [1, n, vocab]
            {
                var last = logits.ReadOnlySpan<float>().Slice((input.Length - 1) * vocab, vocab);
                next = options.Temperature == 0 ? ArgMax(last) : Sample(last, options.Temperature, random);
            }
            if (options.StopTokens.Contains(next)) break;
            result.Add(next);
            onToken?.Invoke(next);
            input = [next];
        }
        return result;
    }

    /// <summary>Index of the largest logit (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    private static int Sample(ReadOnlySpan<float> logits, double temperature, Random random)
    {
        double max = System.Numerics.Tensors.TensorPrimitives.Max(logits);
        var p = new double[logits.Length];
        double sum = 0;
        for (var i = 0; i < p.Length; i++) sum += p[i] = Math.Exp((logits[i] - max) / temperature);
        var u = random.NextDouble() * sum;
        double cdf = 0;
        for (var i = 0; i < p.Length; i++)
        {
            cdf += p[i];
            if (u < cdf) return i;
        }
        return p.Length - 1;
    }
}
