using System.Buffers.Binary;
using System.Numerics.Tensors;

namespace Offload.Model.Tests.Reference;

/// <summary>
/// An independent float64 implementation of llama2.c's forward pass (run.c) straight from a legacy-format .bin:
/// its own file parser, interleaved RoPE with freq = 10000^(−2i/head_size), token-by-token decoding with a KV cache.
/// Shares no code with src/Model; used as the ground truth for the importer and the HF-layout forward.
/// </summary>
public sealed class Llama2cReference
{
    public int Dim, Hidden, Layers, Heads, KvHeads, Vocab, SeqLen, HeadSize, KvDim;
    private double[] _emb = [], _rmsAtt = [], _wq = [], _wk = [], _wv = [], _wo = [], _rmsFfn = [], _w1 = [], _w2 = [], _w3 = [], _rmsFinal = [], _cls = [];

    public static Llama2cReference LoadLegacy(string path)
    {
        var b = File.ReadAllBytes(path);
        var r = new Llama2cReference();
        int I(int i) => BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(4 * i));
        r.Dim = I(0); r.Hidden = I(1); r.Layers = I(2); r.Heads = I(3); r.KvHeads = I(4);
        var vocab = I(5); r.SeqLen = I(6);
        var shared = vocab > 0;
        r.Vocab = Math.Abs(vocab);
        r.HeadSize = r.Dim / r.Heads;
        r.KvDim = r.Dim * r.KvHeads / r.Heads;
        var o = 28;
        double[] Take(long n)
        {
            var a = new double[n];
            for (var i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadSingleLittleEndian(b.AsSpan(o + 4 * i));
            o += checked((int)(4 * n));
            return a;
        }
        int d = r.Dim, l = r.Layers, kv = r.KvDim, h = r.Hidden;
        r._emb = Take((long)r.Vocab * d);
        r._rmsAtt = Take(l * d);
        r._wq = Take((long)l * d * d);
        r._wk = Take((long)l * kv * d);
        r._wv = Take((long)l * kv * d);
        r._wo = Take((long)l * d * d);
        r._rmsFfn = Take(l * d);
        r._w1 = Take((long)l * h * d);
        r._w2 = Take((long)l * d * h);
        r._w3 = Take((long)l * h * d);
        r._rmsFinal = Take(d);
        Take((long)r.SeqLen * r.HeadSize); // freq_cis_real + freq_cis_imag
        r._cls = shared ? r._emb : Take((long)r.Vocab * d);
        if (o != b.Length) throw new InvalidDataException($"reference parser consumed {o} of {b.Length} bytes");
        return r;
    }

    /// <summary>Logits [tokens.Length, vocab] for every position of one sequence.</summary>
    public double[][] Logits(ReadOnlySpan<int> tokens)
    {
        var state = new State(this, tokens.Length);
        var result = new double[tokens.Length][];
        for (var t = 0; t < tokens.Length; t++) result[t] = Step(state, tokens[t], t);
        return result;
    }

    /// <summary>Mean NLL over positions 0..n−2 of one window (logits at t score token t+1).</summary>
    public double WindowNll(ReadOnlySpan<int> window)
    {
        var state = new State(this, window.Length);
        var sum = 0.0;
        for (var t = 0; t + 1 < window.Length; t++)
        {
            var logits = Step(state, window[t], t);
            var max = logits.Max();
            var lse = 0.0;
            foreach (var v in logits) lse += Math.Exp(v - max);
            sum += max + Math.Log(lse) - logits[window[t + 1]];
        }
        return sum / (window.Length - 1);
    }

    /// <summary>Greedy continuation (argmax, first index on ties) of <paramref name="prompt"/>, <paramref name="n"/> tokens.</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int n)
    {
        var state = new State(this, prompt.Count + n);
        double[] logits = [];
        for (var t = 0; t < prompt.Count; t++) logits = Step(state, prompt[t], t);
        var result = new List<int>();
        for (var k = 0; k < n; k++)
        {
            var best = 0;
            for (var v = 1; v < logits.Length; v++) if (logits[v] > logits[best]) best = v;
            result.Add(best);
            if (k + 1 < n) logits = Step(state, best, prompt.Count + k);
        }
        return result;
    }

    private sealed class State(Llama2cReference m, int maxLen)
    {
        public readonly double[] KeyCache = new double[m.Layers * maxLen * m.KvDim];
        public readonly double[] ValueCache = new double[m.Layers * maxLen * m.KvDim];
        public readonly int MaxLen = maxLen;
    }

    private double[] Step(State s, int token, int pos)
    {
        int d = Dim, kv = KvDim, hs = HeadSize, hd = Hidden;
        var x = _emb.AsSpan(token * d, d).ToArray();
        var xb = new double[d];
        var q = new double[d];
        var k = new double[kv];
        var v = new double[kv];
        var att = new double[pos + 1];
        var hb = new double[hd];
        var hb2 = new double[hd];
        for (var l = 0; l < Layers; l++)
        {
            RmsNorm(x, _rmsAtt.AsSpan(l * d, d), xb);
            MatVec(_wq.AsSpan(l * d * d, d * d), xb, q);
            MatVec(_wk.AsSpan(l * kv * d, kv * d), xb, k);
            MatVec(_wv.AsSpan(l * kv * d, kv * d), xb, v);
            for (var i = 0; i < d; i += 2)
            {
                var headDim = i % hs;
                var freq = 1.0 / Math.Pow(10000.0, headDim / (double)hs);
                var angle = pos * freq;
                double c = Math.Cos(angle), sn = Math.Sin(angle);
                (q[i], q[i + 1]) = (q[i] * c - q[i + 1] * sn, q[i] * sn + q[i + 1] * c);
                if (i < kv) (k[i], k[i + 1]) = (k[i] * c - k[i + 1] * sn, k[i] * sn + k[i + 1] * c);
            }
            var layerBase = l * s.MaxLen * kv;
            k.CopyTo(s.KeyCache.AsSpan(layerBase + pos * kv, kv));
            v.CopyTo(s.ValueCache.AsSpan(layerBase + pos * kv, kv));
            Array.Clear(xb);
            var group = Heads / KvHeads;
            var scale = 1.0 / Math.Sqrt(hs);
            var keys = s.KeyCache;
            var values = s.ValueCache;
            for (var h = 0; h < Heads; h++)
            {
                var qo = h * hs;
                var ko = layerBase + (h / group) * hs;
                var max = double.NegativeInfinity;
                for (var t = 0; t <= pos; t++)
                {
                    var dot = 0.0;
                    var kt = ko + t * kv;
                    for (var i = 0; i < hs; i++) dot += q[qo + i] * keys[kt + i];
                    att[t] = dot * scale;
                    if (att[t] > max) max = att[t];
                }
                var sum = 0.0;
                for (var t = 0; t <= pos; t++) sum += att[t] = Math.Exp(att[t] - max);
                for (var t = 0; t <= pos; t++)
                {
                    var a = att[t] / sum;
                    var vt = ko + t * kv;
                    for (var i = 0; i < hs; i++) xb[qo + i] += a * values[vt + i];
                }
            }
            var xb2 = new double[d];
            MatVec(_wo.AsSpan(l * d * d, d * d), xb, xb2);
            for (var i = 0; i < d; i++) x[i] += xb2[i];
            RmsNorm(x, _rmsFfn.AsSpan(l * d, d), xb);
            MatVec(_w1.AsSpan(l * hd * d, hd * d), xb, hb);
            MatVec(_w3.AsSpan(l * hd * d, hd * d), xb, hb2);
            for (var i = 0; i < hd; i++) hb[i] = hb[i] / (1 + Math.Exp(-hb[i])) * hb2[i];
            MatVec(_w2.AsSpan(l * d * hd, d * hd), hb, xb);
            for (var i = 0; i < d; i++) x[i] += xb[i];
        }
        RmsNorm(x, _rmsFinal, x);
        var logits = new double[Vocab];
        MatVec(_cls, x, logits);
        return logits;
    }

    private static void RmsNorm(ReadOnlySpan<double> x, ReadOnlySpan<double> w, Span<double> o)
    {
        var ss = 0.0;
        foreach (var v in x) ss += v * v;
        var inv = 1.0 / Math.Sqrt(ss / x.Length + 1e-5);
        for (var i = 0; i < x.Length; i++) o[i] = w[i] * (x[i] * inv);
    }

    // o[r] = Σ_c w[r, c] · x[c], w: [o.Length, x.Length]
    private static void MatVec(ReadOnlySpan<double> w, ReadOnlySpan<double> x, Span<double> o)
    {
        for (var r = 0; r < o.Length; r++) o[r] = TensorPrimitives.Dot(w.Slice(r * x.Length, x.Length), x);
    }
}
