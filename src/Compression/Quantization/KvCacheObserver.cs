using Offload.Model.Forward;
using Offload.Model.Config;
using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// Observes one layer's post-RoPE keys and values for kv_cache_scheme (formats spec §7.2–7.3, llm-compressor's
/// calibrate_key_hook / calibrate_value_hook): each calibration batch's min and max over every token and channel
/// (strategy tensor) or per KV head (attn_head), fed to the configured observer — memoryless_minmax (the default) keeps
/// only the last batch's, static_minmax the running min/max, minmax a moving average old·(1−c) + new·c (c =
/// averaging_constant, 0.01). Listed after an online rotation (SpinQuant's R3), it sees the rotated keys.
/// <see cref="Scales"/> then gives k_scale / v_scale = absmax / 448 in the model dtype.
/// </summary>
public sealed class KvCacheObserver : IAttentionStateHook
{
    private readonly int _layer;
    private readonly QuantizationArgs _args;
    private readonly int _heads;
    private readonly int _headDim;
    private float[]? _kMin, _kMax, _vMin, _vMax;

    public KvCacheObserver(int layer, QuantizationArgs args, LlamaConfig config)
    {
        KvCacheScheme.Check(args, $"layer {layer} kv_cache_scheme");
        _layer = layer;
        _args = args;
        _heads = KvCacheScheme.ScaleCount(args, config);
        _headDim = config.KvDim / _heads;
    }

    /// <summary>True once a batch was observed.</summary>
    public bool HasObserved => _kMin is not null;

    public void OnAttentionStates(int layer, Span<float> q, Span<float> k, Span<float> v, int tokens, int sequences)
    {
        if (layer != _layer) return;
        var (kMin, kMax) = Range(k, tokens);
        var (vMin, vMax) = Range(v, tokens);
        if (_kMin is null)
        {
            (_kMin, _kMax, _vMin, _vMax) = (kMin, kMax, vMin, vMax);
            return;
        }
        Update(_kMin, _kMax!, kMin, kMax);
        Update(_vMin!, _vMax!, vMin, vMax);
    }

    /// <summary>Feeds what <paramref name="batch"/> (an observer of the same layer that saw one batch) observed, as if it had come here; call in batch order.</summary>
    public void Absorb(KvCacheObserver batch)
    {
        if (batch._kMin is null) return;
        if (_kMin is null)
        {
            (_kMin, _kMax, _vMin, _vMax) = ((float[])batch._kMin.Clone(), (float[])batch._kMax!.Clone(), (float[])batch._vMin!.Clone(), (float[])batch._vMax!.Clone());
            return;
        }
        Update(_kMin, _kMax!, batch._kMin, batch._kMax!);
        Update(_vMin!, _vMax!, batch._vMin!, batch._vMax!);
    }

    // x: [tokens, kv_heads·head_dim] → per scale cell (the whole tensor, or one KV head) its min and max.
    private (float[] Min, float[] Max) Range(ReadOnlySpan<float> x, int tokens)
    {
        var width = _heads * _headDim;
        if (x.Length != tokens * width) throw new ArgumentException($"layer {_layer}: expected {tokens}×{width} key/value values, got {x.Length}");
        var min = new float[_heads];
        var max = new float[_heads];
        Array.Fill(min, float.PositiveInfinity);
        Array.Fill(max, float.NegativeInfinity);
        for (var t = 0; t < tokens; t++)
        for (var h = 0; h < _heads; h++)
        {
            foreach (var e in x.Slice(t * width + h * _headDim, _headDim))
            {
                if (e < min[h]) min[h] = e;
                if (e > max[h]) max[h] = e;
            }
        }
        return (min, max);
    }

    private void Update(float[] oldMin, float[] oldMax, float[] min, float[] max)
    {
        var c = (float)_args.Kwarg("averaging_constant", 0.01);
        for (var h = 0; h < _heads; h++)
        {
            (oldMin[h], oldMax[h]) = _args.Observer switch
            {
                "static_minmax" => (MathF.Min(oldMin[h], min[h]), MathF.Max(oldMax[h], max[h])),
                "minmax" => (oldMin[h] * (1 - c) + min[h] * c, oldMax[h] * (1 - c) + max[h] * c),
                _ => (min[h], max[h]),
            };
        }
    }

    /// <summary>
    /// k_scale and v_scale computed in <paramref name="dtype"/> (the model's; min/max first rounded to it, as the observed
    /// tensors are values of it): absmax / 448 per cell (spec §1.3; a zero scale becomes the dtype's eps).
    /// </summary>
    public KvCacheScales Scales(DType dtype)
    {
        if (_kMin is null) throw new InvalidOperationException($"layer {_layer}: no key/value states were observed; run the calibration forward first");
        float[] Of(float[] min, float[] max)
        {
            var s = new float[_heads];
            for (var h = 0; h < _heads; h++)
                s[h] = QuantMath.Calculate(QuantMath.RoundTo(min[h], dtype), QuantMath.RoundTo(max[h], dtype), _args, dtype, dtype).Scale;
            return s;
        }
        return new KvCacheScales(Of(_kMin, _kMax!), Of(_vMin!, _vMax!), dtype);
    }
}
