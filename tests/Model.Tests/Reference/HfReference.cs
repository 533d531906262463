using Offload.Model.Config;
using Offload.Model.SafeTensors;

namespace Offload.Model.Tests.Reference;

/// <summary>
/// An independent float64 forward pass of the Hugging Face Llama/Mistral/Qwen2/Qwen3 modelling code, written from the
/// transformers semantics (rotate-half RoPE with default/linear/llama3 frequencies, repeat_kv GQA, causal and sliding
/// masks, q/k/v/o and MLP biases, Qwen3's per-head q_norm/k_norm between the projection and RoPE, SwiGLU, tied or
/// untied lm_head), one token at a time. Reads only data from
/// src/Model (the config record, tensors through the safetensors reader); computes nothing with it.
/// </summary>
public sealed class HfReference
{
    private readonly LlamaConfig _c;
    private readonly Dictionary<string, double[]> _w = new(StringComparer.Ordinal);
    private readonly double[] _invFreq;

    public HfReference(LlamaConfig config, string checkpointDir)
    {
        _c = config;
        using var ckpt = SafetensorsCheckpoint.Open(checkpointDir);
        foreach (var name in ckpt.Names)
        {
            using var t = ckpt.Get(name);
            _w[name] = t.ToDoubleArray();
        }
        _invFreq = InvFreq(config);
    }

    /// <summary>Frequencies as transformers' rope init functions define them, derived here from their formulas.</summary>
    public static double[] InvFreq(LlamaConfig c)
    {
        var d = c.HeadDim;
        var inv = new double[d / 2];
        for (var i = 0; i < d / 2; i++) inv[i] = Math.Pow(c.RopeTheta, -(2.0 * i) / d);
        if (c.RopeScaling is { Type: RopeType.Linear } lin)
            for (var i = 0; i < inv.Length; i++) inv[i] /= lin.Factor;
        if (c.RopeScaling is { Type: RopeType.Llama3 } s)
        {
            for (var i = 0; i < inv.Length; i++)
            {
                var wavelen = 2 * Math.PI / inv[i];
                double scaled;
                if (wavelen < s.OriginalMaxPositionEmbeddings / s.HighFreqFactor) scaled = inv[i];                  // high frequency: kept
                else if (wavelen > s.OriginalMaxPositionEmbeddings / s.LowFreqFactor) scaled = inv[i] / s.Factor;  // low frequency: interpolated
                else
                {
                    var smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                    scaled = (1 - smooth) * inv[i] / s.Factor + smooth * inv[i];
                }
                inv[i] = scaled;
            }
        }
        return inv;
    }

    private double[] W(string name) => _w[name];
    private double[]? B(string name) => _w.GetValueOrDefault(name);

    /// <summary>Residual stream entering each layer ([layer][position][hidden]) and the logits [position][vocab].</summary>
    public (double[][][] LayerInputs, double[][] Logits) Run(IReadOnlyList<int> tokens)
    {
        int n = tokens.Count, h = _c.HiddenSize, hd = _c.HeadDim, nh = _c.NumAttentionHeads, nkv = _c.NumKeyValueHeads, inter = _c.IntermediateSize;
        var x = new double[n][];
        for (var t = 0; t < n; t++) x[t] = W("model.embed_tokens.weight").AsSpan(tokens[t] * h, h).ToArray();
        var inputs = new double[_c.NumHiddenLayers][][];
        for (var l = 0; l < _c.NumHiddenLayers; l++)
        {
            inputs[l] = x.Select(r => (double[])r.Clone()).ToArray();
            var p = $"model.layers.{l}.";
            var q = new double[n][];
            var k = new double[n][];
            var v = new double[n][];
            for (var t = 0; t < n; t++)
            {
                var xn = Norm(x[t], W(p + "input_layernorm.weight"));
                var qp = Lin(xn, W(p + "self_attn.q_proj.weight"), B(p + "self_attn.q_proj.bias"));
                var kp = Lin(xn, W(p + "self_attn.k_proj.weight"), B(p + "self_attn.k_proj.bias"));
                if (_c.Architecture == ModelArchitecture.Qwen3)
                {
                    qp = HeadNorm(qp, nh, W(p + "self_attn.q_norm.weight"));
                    kp = HeadNorm(kp, nkv, W(p + "self_attn.k_norm.weight"));
                }
                q[t] = Rope(qp, nh, t);
                k[t] = Rope(kp, nkv, t);
                v[t] = Lin(xn, W(p + "self_attn.v_proj.weight"), B(p + "self_attn.v_proj.bias"));
            }
            var window = _c.SlidingWindowOf(l);
            for (var t = 0; t < n; t++)
            {
                var attn = new double[nh * hd];
                for (var head = 0; head < nh; head++)
                {
                    var kvHead = head / (nh / nkv);
                    var first = window is { } w ? Math.Max(0, t - w + 1) : 0;
                    var scores = new double[t + 1 - first];
                    for (var s = first; s <= t; s++)
                    {
                        double dot = 0;
                        for (var i = 0; i < hd; i++) dot += q[t][head * hd + i] * k[s][kvHead * hd + i];
                        scores[s - first] = dot / Math.Sqrt(hd);
                    }
                    var max = scores.Max();
                    var sum = scores.Sum(z => Math.Exp(z - max));
                    for (var s = first; s <= t; s++)
                    {
                        var a = Math.Exp(scores[s - first] - max) / sum;
                        for (var i = 0; i < hd; i++) attn[head * hd + i] += a * v[s][kvHead * hd + i];
                    }
                }
                var o = Lin(attn, W(p + "self_attn.o_proj.weight"), B(p + "self_attn.o_proj.bias"));
                for (var i = 0; i < h; i++) x[t][i] += o[i];
            }
            for (var t = 0; t < n; t++)
            {
                var xn = Norm(x[t], W(p + "post_attention_layernorm.weight"));
                var g = Lin(xn, W(p + "mlp.gate_proj.weight"), B(p + "mlp.gate_proj.bias"));
                var u = Lin(xn, W(p + "mlp.up_proj.weight"), B(p + "mlp.up_proj.bias"));
                var a = new double[inter];
                for (var i = 0; i < inter; i++) a[i] = g[i] / (1 + Math.Exp(-g[i])) * u[i];
                var d = Lin(a, W(p + "mlp.down_proj.weight"), B(p + "mlp.down_proj.bias"));
                for (var i = 0; i < h; i++) x[t][i] += d[i];
            }
        }
        var head0 = _c.TieWordEmbeddings ? W("model.embed_tokens.weight") : W("lm_head.weight");
        var logits = x.Select(r => Lin(Norm(r, W("model.norm.weight")), head0, null)).ToArray();
        return (inputs, logits);
    }

    private double[] Norm(double[] x, double[] w)
    {
        var ms = x.Sum(v => v * v) / x.Length;
        var inv = 1 / Math.Sqrt(ms + _c.RmsNormEps);
        return x.Select((v, i) => w[i] * v * inv).ToArray();
    }

    // Qwen3RMSNorm over the last axis of the [heads, head_dim] view: each head normalized on its own.
    private double[] HeadNorm(double[] x, int heads, double[] w)
    {
        var hd = _c.HeadDim;
        var y = new double[x.Length];
        for (var head = 0; head < heads; head++)
        {
            double ms = 0;
            for (var i = 0; i < hd; i++) ms += x[head * hd + i] * x[head * hd + i];
            var inv = 1 / Math.Sqrt(ms / hd + _c.RmsNormEps);
            for (var i = 0; i < hd; i++) y[head * hd + i] = w[i] * x[head * hd + i] * inv;
        }
        return y;
    }

    // y = W x + b, W: [out, in]
    private static double[] Lin(double[] x, double[] w, double[]? b)
    {
        var outF = w.Length / x.Length;
        var y = new double[outF];
        for (var o = 0; o < outF; o++)
        {
            double s = b?[o] ?? 0;
            for (var i = 0; i < x.Length; i++) s += w[o * x.Length + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    // HF apply_rotary_pos_emb: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁], cos/sin repeated over both halves.
    private double[] Rope(double[] x, int heads, int pos)
    {
        var hd = _c.HeadDim;
        var half = hd / 2;
        var y = new double[x.Length];
        for (var head = 0; head < heads; head++)
        {
            for (var j = 0; j < hd; j++)
            {
                var f = _invFreq[j % half] * pos;
                var rotated = j < half ? -x[head * hd + j + half] : x[head * hd + j - half];
                y[head * hd + j] = x[head * hd + j] * Math.Cos(f) + rotated * Math.Sin(f);
            }
        }
        return y;
    }
}
