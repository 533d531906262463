using Offload.Model.Forward;
using Offload.Model.Config;
using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// KV-cache fake-quantization in the forward (compressed-tensors' QuantizedKVCache): the post-RoPE keys (after any
/// online rotation listed before this hook, e.g. SpinQuant's R3) and the values of every layer are
/// quantized-dequantized through the fp8 e4m3 grid with the layer's stored k_scale / v_scale — one scale for the tensor
/// or one per KV head — in f32, the forward's dtype: x̂ = e4m3(clamp(x / s, ±448)) · s.
/// </summary>
public sealed class KvCacheQuantHook : IAttentionStateHook
{
    private readonly QuantizationArgs _args;
    private readonly IReadOnlyList<KvCacheScales> _scales;
    private readonly int _heads;
    private readonly int _headDim;

    /// <param name="scales">per layer (index = layer) its k/v scales.</param>
    public KvCacheQuantHook(LlamaConfig config, QuantizationArgs args, IReadOnlyList<KvCacheScales> scales)
    {
        KvCacheScheme.Check(args, "kv_cache_scheme");
        if (scales.Count != config.NumHiddenLayers)
            throw new QuantizationConfigException($"kv_cache_scheme: {scales.Count} layers of k/v scales for a model of {config.NumHiddenLayers} layers");
        _args = args;
        _scales = scales;
        _heads = KvCacheScheme.ScaleCount(args, config);
        _headDim = config.KvDim / _heads;
        for (var l = 0; l < scales.Count; l++)
            if (scales[l].K.Length != _heads || scales[l].V.Length != _heads)
                throw new QuantizationConfigException($"kv_cache_scheme: layer {l} has {scales[l].K.Length} k scales, strategy {args.Strategy.ToName()} needs {_heads}");
    }

    public void OnAttentionStates(int layer, Span<float> q, Span<float> k, Span<float> v, int tokens, int sequences)
    {
        var s = _scales[layer];
        FakeQuantize(k, s.K, tokens);
        FakeQuantize(v, s.V, tokens);
    }

    // x: [tokens, kv_heads·head_dim] in place; scale per cell (tensor: 1, attn_head: per head).
    private void FakeQuantize(Span<float> x, float[] scale, int tokens)
    {
        var grid = QuantGrid.Of(_args);
        var width = _heads * _headDim;
        for (var t = 0; t < tokens; t++)
        for (var h = 0; h < _heads; h++)
        {
            var cell = x.Slice(t * width + h * _headDim, _headDim);
            var sc = scale[h];
            for (var i = 0; i < cell.Length; i++) cell[i] = QuantMath.FakeQuantize(cell[i], sc, 0, grid, DType.F32, DType.F32);
        }
    }
}
