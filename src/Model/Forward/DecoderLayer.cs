using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Offload.Model.Config;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Forward;

/// <summary>
/// A Llama decoder layer, f32 compute from weights of any float dtype:
/// h = x + o_proj(attn(rope(q_proj(n₁)), rope(k_proj(n₁)), v_proj(n₁))), n₁ = RMSNorm(x);
/// y = h + down_proj(SiLU(gate_proj(n₂)) · up_proj(n₂)), n₂ = RMSNorm(h).
/// </summary>
public sealed unsafe class DecoderLayer : IDecoderLayer, IDisposable
{
    private readonly LlamaConfig _config;
    private readonly RotaryEmbedding _rope;
    private readonly float[] _inputNorm;
    private readonly float[] _postNorm;
    private readonly int? _window;

    /// <summary>A layer over <paramref name="weights"/>, which it owns (disposed with the layer).</summary>
    public DecoderLayer(LlamaConfig config, int index, DecoderLayerWeights weights, RotaryEmbedding rope)
    {
        _config = config;
        Index = index;
        Weights = weights;
        _rope = rope;
        _inputNorm = weights.InputLayerNorm.ToFloatArray();
        _postNorm = weights.PostAttentionLayerNorm.ToFloatArray();
        _window = config.SlidingWindowOf(index);
    }

    public int Index { get; }

    public DecoderLayerWeights Weights { get; }

    /// <inheritdoc />
    public Tensor Forward(Tensor x, LayerKvCache? cache = null)
    {
        // x: [batch, seq, hidden] f32
        if (x.DType != DType.F32 || x.Rank != 3 || x.Dim(2) != _config.HiddenSize)
            throw new ArgumentException($"layer {Index} expects f32 [batch, seq, {_config.HiddenSize}], got {x}");
        var batch = checked((int)x.Dim(0));
        var seq = checked((int)x.Dim(1));
        var hidden = _config.HiddenSize;
        var tokens = batch * seq;
        if (cache is not null && cache.Batch != batch) throw new ArgumentException($"cache holds {cache.Batch} rows, input has {batch}");
        var start = cache?.Length ?? 0;
        var eps = (float)_config.RmsNormEps;

        var residual = x.Clone();                                           // [batch, seq, hidden]
        try
        {
            using (var normed = Tensor.Empty(DType.F32, tokens, hidden))
            {
                ModelKernels.RmsNorm(x.ReadOnlySpan<float>(), _inputNorm, eps, normed.Span<float>());
                using var attn = SelfAttention(normed, batch, seq, start, cache); // [tokens, q_dim]
                using var o = Ops.Linear(attn, Weights.OProj, Weights.OBias);    // [tokens, hidden]
                TensorPrimitives.Add(residual.Span<float>(), o.ReadOnlySpan<float>(), residual.Span<float>());
            }
            using (var normed = Tensor.Empty(DType.F32, tokens, hidden))
            {
                ModelKernels.RmsNorm(residual.ReadOnlySpan<float>(), _postNorm, eps, normed.Span<float>());
                using var gate = Ops.Linear(normed, Weights.GateProj, Weights.GateBias); // [tokens, intermediate]
                using (var up = Ops.Linear(normed, Weights.UpProj, Weights.UpBias))     // [tokens, intermediate]
                using (var scratch = Tensor.Empty(DType.F32, tokens, _config.IntermediateSize))
                {
                    ModelKernels.SiluMul(gate.Span<float>(), up.ReadOnlySpan<float>(), scratch.Span<float>());
                }
                using var down = Ops.Linear(gate, Weights.DownProj, Weights.DownBias);  // [tokens, hidden]
                TensorPrimitives.Add(residual.Span<float>(), down.ReadOnlySpan<float>(), residual.Span<float>());
            }
            return residual;
        }
        catch
        {
            residual.Dispose();
            throw;
        }
    }

    // normed: [tokens, hidden] f32 → [tokens, heads·head_dim] f32
    private Tensor SelfAttention(Tensor normed, int batch, int seq, int start, LayerKvCache? cache)
    {
        var c = _config;
        using var q = Ops.Linear(normed, Weights.QProj, Weights.QBias); // [tokens, q_dim]
        using var k = Ops.Linear(normed, Weights.KProj, Weights.KBias); // [tokens, kv_dim]
        using var v = Ops.Linear(normed, Weights.VProj, Weights.VBias); // [tokens, kv_dim]
        _rope.Apply(q.Span<float>(), c.NumAttentionHeads, seq, start);
        _rope.Apply(k.Span<float>(), c.NumKeyValueHeads, seq, start);
        var output = Tensor.Empty(DType.F32, batch * seq, c.QDim);
        try
        {
            if (cache is null)
            {
                Attention.Causal((float*)q.Pointer, (float*)k.Pointer, (float*)v.Pointer, (float*)output.Pointer, batch, seq,
                    c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, (long)seq * c.KvDim, seq, 0, _window);
            }
            else
            {
                cache.Append(k.ReadOnlySpan<float>(), v.ReadOnlySpan<float>(), seq);
                fixed (float* keys = cache.Keys)
                fixed (float* values = cache.Values)
                {
                    Attention.Causal((float*)q.Pointer, keys, values, (float*)output.Pointer, batch, seq,
                        c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, (long)cache.Capacity * c.KvDim, cache.Length, start, _window);
                }
            }
            return output;
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    public void Dispose() => Weights.Dispose();
}
