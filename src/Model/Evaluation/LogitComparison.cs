using Offload.Model.Forward;

namespace Offload.Model.Evaluation;

/// <summary>Compares two models' logits (e.g. a compressed model against its original).</summary>
public static class LogitComparison
{
    /// <summary>a, b: [positions, vocab] f32 logits; a is the reference.</summary>
    public static LogitDiff Compare(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int vocab)
    {
        if (a.Length != b.Length || a.Length % vocab != 0) throw new ArgumentException($"logits of {a.Length} and {b.Length} values are not the same [positions, {vocab}]");
        var acc = new Accumulator();
        acc.Add(a, b, vocab);
        return acc.Result();
    }

    /// <summary>Runs both models over the same windows ([count · seqLen] tokens) and compares every position's logits.</summary>
    public static LogitDiff Compare(CausalLM reference, CausalLM candidate, ReadOnlySpan<int> windows, int seqLen)
    {
        if (reference.Config.VocabSize != candidate.Config.VocabSize) throw new ArgumentException("the models have different vocabularies");
        var vocab = reference.Config.VocabSize;
        var acc = new Accumulator();
        for (var w = 0; w < windows.Length / seqLen; w++)
        {
            var tokens = windows.Slice(w * seqLen, seqLen);
            using var la = reference.Forward(tokens, 1, seqLen);
            using var lb = candidate.Forward(tokens, 1, seqLen);
            acc.Add(la.ReadOnlySpan<float>(), lb.ReadOnlySpan<float>(), vocab);
        }
        return acc.Result();
    }

    private sealed class Accumulator
    {
        private double _maxAbs, _diff2, _ref2, _klSum, _klMax;
        private int _positions, _agree;

        public void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int vocab)
        {
            for (var p = 0; p < a.Length / vocab; p++)
            {
                var ra = a.Slice(p * vocab, vocab);
                var rb = b.Slice(p * vocab, vocab);
                var lseA = TokenNll.LogSumExp(ra);
                var lseB = TokenNll.LogSumExp(rb);
                double kl = 0;
                int argA = 0, argB = 0;
                for (var v = 0; v < vocab; v++)
                {
                    double x = ra[v], y = rb[v], d = x - y;
                    _maxAbs = Math.Max(_maxAbs, Math.Abs(d));
                    _diff2 += d * d;
                    _ref2 += x * x;
                    var logPa = x - lseA;
                    kl += Math.Exp(logPa) * (logPa - (y - lseB));
                    if (ra[v] > ra[argA]) argA = v;
                    if (rb[v] > rb[argB]) argB = v;
                }
                kl = Math.Max(0, kl);
                _klSum += kl;
                _klMax = Math.Max(_klMax, kl);
                if (argA == argB) _agree++;
                _positions++;
            }
        }

        public LogitDiff Result() => new(_maxAbs, _ref2 > 0 ? Math.Sqrt(_diff2 / _ref2) : Math.Sqrt(_diff2), _positions > 0 ? _klSum / _positions : 0, _klMax,
            _positions > 0 ? (double)_agree / _positions : 0, _positions);
    }
}
