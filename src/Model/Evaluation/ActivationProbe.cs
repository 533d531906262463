using Offload.Model.Forward;

namespace Offload.Model.Evaluation;

/// <summary>Measures the residual stream of a model (the input of every decoder layer and the last layer's output).</summary>
public static class ActivationProbe
{
    /// <summary>Statistics of x: [tokens, hidden] f32, accumulated in f64.</summary>
    public static ActivationStats Of(ReadOnlySpan<float> x, int hidden)
    {
        var tokens = x.Length / hidden;
        var channelSq = new double[hidden];
        double maxAbs = 0, sumSq = 0;
        var maxChannel = 0;
        for (var t = 0; t < tokens; t++)
        {
            var row = x.Slice(t * hidden, hidden);
            for (var c = 0; c < hidden; c++)
            {
                double v = row[c];
                var a = Math.Abs(v);
                if (a > maxAbs)
                {
                    maxAbs = a;
                    maxChannel = c;
                }
                channelSq[c] += v * v;
                sumSq += v * v;
            }
        }
        var channelRms = channelSq.Select(s => Math.Sqrt(s / Math.Max(1, tokens))).ToArray();
        var sorted = channelRms.Order().ToArray();
        var median = sorted[sorted.Length / 2];
        return new ActivationStats(maxAbs, Math.Sqrt(sumSq / Math.Max(1, x.Length)), maxChannel, median > 0 ? sorted[^1] / median : 0);
    }

    /// <summary>
    /// Runs tokens [batch·seq] through the model and returns the statistics of each layer's input (entries
    /// 0..layers−1) and of the last layer's output (entry layers).
    /// </summary>
    public static IReadOnlyList<ActivationStats> ResidualStream(CausalLM model, ReadOnlySpan<int> tokens, int batch, int seq)
    {
        var hidden = model.Config.HiddenSize;
        var stats = new List<ActivationStats>();
        using var embedded = model.Embed(tokens, batch, seq);
        using var last = model.RunLayers(embedded, onLayerInput: (_, x) => stats.Add(Of(x.ReadOnlySpan<float>(), hidden)));
        stats.Add(Of(last.ReadOnlySpan<float>(), hidden));
        return stats;
    }
}
