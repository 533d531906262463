using Offload.Model.Forward;

namespace Offload.Model.Evaluation;

/// <summary>Token NLL and perplexity of a model over protocol windows (see <see cref="EvalProtocol"/>).</summary>
public static class PerplexityEvaluator
{
    /// <summary>
    /// windows: [count · seqLen] tokens. Every window scores positions 0..seqLen−2 (511 predictions for 512 tokens);
    /// windows run through the model <paramref name="batch"/> at a time, layer by layer.
    /// </summary>
    public static EvalResult Evaluate(CausalLM model, ReadOnlySpan<int> windows, int seqLen, int batch = 8, IProgress<int>? progress = null)
    {
        if (seqLen < 2 || windows.Length % seqLen != 0) throw new ArgumentException($"{windows.Length} tokens are not whole windows of {seqLen}");
        var count = windows.Length / seqLen;
        var perWindow = new double[count];
        var vocab = model.Config.VocabSize;
        for (var w0 = 0; w0 < count; w0 += batch)
        {
            var b = Math.Min(batch, count - w0);
            var tokens = windows.Slice(w0 * seqLen, b * seqLen);
            using var embedded = model.Embed(tokens, b, seqLen);
            using var last = model.RunLayers(embedded);
            for (var i = 0; i < b; i++)
            {
                using var rows = last.Slice(i, 1);                // [1, seq, hidden]
                using var logits = model.Logits(rows);            // [1, seq, vocab]
                var l = logits.ReadOnlySpan<float>();
                var sum = 0.0;
                for (var t = 0; t + 1 < seqLen; t++) sum += TokenNll.Of(l.Slice(t * vocab, vocab), tokens[i * seqLen + t + 1]);
                perWindow[w0 + i] = sum / (seqLen - 1);
            }
            progress?.Report(w0 + b);
        }
        var mean = 0.0;
        foreach (var v in perWindow) mean += v;
        mean /= count;
        return new EvalResult(mean, (long)count * (seqLen - 1), perWindow);
    }
}
