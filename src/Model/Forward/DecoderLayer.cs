using Offload.Tensors.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Offload.Model.Config;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Forward;

/// <summary>
/// A Llama decoder layer, f32 compute from weights of any float dtype:
/// h = x + o_proj(attn(rope(q_proj(n₁)), rope(k_proj(n₁)), v_proj(n₁))), n₁ = RMSNorm(x);
/// y = h + down_proj(SiLU(gate_proj(n₂)) · up_proj(n₂)), n₂ = RMSNorm(h).
/// Qwen3 normalizes every query and key head before RoPE: rope(q_norm(q_proj(n₁))), rope(k_norm(k_proj(n₁))).
/// <see cref="ILinearInputHook"/>s (compressed-tensors' forward pre-hooks) see each of the four linear inputs before the
/// linears read it — n₁, the attention output, n₂, SiLU(gate)·up — and may change it in place (online rotation,
/// activation fake-quantization) or only read it (Hessian capture, observers); hooks that are also
/// <see cref="IAttentionStateHook"/>s run on the post-RoPE q, k and v before the scores and the KV cache. Hooks run in
/// list order: the layer's own <see cref="Hooks"/> first, then a call's extra ones.
/// </summary>
public sealed unsafe class DecoderLayer : IDecoderLayer, IDisposable
{
    private readonly LlamaConfig _config;
    private readonly RotaryEmbedding _rope;
    private readonly float[] _inputNorm;
    private readonly float[] _postNorm;
    private readonly float[]? _qNorm;
    private readonly float[]? _kNorm;
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
        _qNorm = weights.QNorm?.ToFloatArray();
        _kNorm = weights.KNorm?.ToFloatArray();
        _window = config.SlidingWindowOf(index);
    }

    public int Index { get; }

    public DecoderLayerWeights Weights { get; }

    /// <summary>Hooks run inside every forward (online rotations, activation fake-quantization; null: none).</summary>
    public IReadOnlyList<ILinearInputHook>? Hooks { get; set; }

    /// <summary>Online additions to the linears' outputs (null: none).</summary>
    public ILinearAdapters? Adapters { get; set; }

    /// <inheritdoc />
    public Tensor Forward(Tensor x, LayerKvCache? cache = null) => Forward(x, cache, null);

    /// <summary>The forward with <paramref name="extra"/> hooks after the layer's own for this call only (e.g. a calibration batch's capture).</summary>
    public Tensor Forward(Tensor x, LayerKvCache? cache, IReadOnlyList<ILinearInputHook>? extra)
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
        var hooks = Combine(Hooks, extra);

        var residual = x.Clone();                                           // [batch, seq, hidden]
        try
        {
            using (var normed = Tensor.Empty(DType.F32, tokens, hidden))
            {
                Normalization.RmsNorm(x.ReadOnlySpan<float>(), _inputNorm, eps, normed.Span<float>(), _inputNorm.Length);
                OnInput(hooks, LinearInput.Attention, normed, tokens, hidden, batch);
                using var attn = SelfAttention(normed, batch, seq, start, cache, hooks); // [tokens, q_dim]
                OnInput(hooks, LinearInput.AttentionOutput, attn, tokens, _config.QDim, batch);
                using var o = Linear(attn, Weights.OProj, Weights.OBias, LayerLinear.OProj, tokens); // [tokens, hidden]
                TensorPrimitives.Add(residual.Span<float>(), o.ReadOnlySpan<float>(), residual.Span<float>());
            }
            using (var normed = Tensor.Empty(DType.F32, tokens, hidden))
            {
                Normalization.RmsNorm(residual.ReadOnlySpan<float>(), _postNorm, eps, normed.Span<float>(), _postNorm.Length);
                OnInput(hooks, LinearInput.Mlp, normed, tokens, hidden, batch);
                var (gate, up) = GateUp(normed, tokens);                                // [tokens, intermediate] ×2
                using var gateOwned = gate;
                using (up)
                {
                    Activations.SwiGlu(gate.ReadOnlySpan<float>(), up.ReadOnlySpan<float>(), gate.Span<float>()); // in place, no scratch tensor
                }
                OnInput(hooks, LinearInput.MlpDown, gate, tokens, _config.IntermediateSize, batch);
                using var down = Linear(gate, Weights.DownProj, Weights.DownBias, LayerLinear.DownProj, tokens); // [tokens, hidden]
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
    private Tensor SelfAttention(Tensor normed, int batch, int seq, int start, LayerKvCache? cache, IReadOnlyList<ILinearInputHook>? hooks)
    {
        var c = _config;
        var (q0, k0, v0) = Qkv(normed, batch * seq);                   // [tokens, q_dim], [tokens, kv_dim] ×2
        using var q = q0;
        using var k = k0;
        using var v = v0;
        // Qwen3: RMSNorm over each head's head_dim values (rows of head_dim), in place, before RoPE.
        if (_qNorm is not null) Normalization.RmsNorm(q.ReadOnlySpan<float>(), _qNorm, (float)c.RmsNormEps, q.Span<float>(), c.HeadDim);
        if (_kNorm is not null) Normalization.RmsNorm(k.ReadOnlySpan<float>(), _kNorm, (float)c.RmsNormEps, k.Span<float>(), c.HeadDim);
        _rope.Apply(q.Span<float>(), c.NumAttentionHeads, seq, start);
        _rope.Apply(k.Span<float>(), c.NumKeyValueHeads, seq, start);
        if (hooks is not null)
            foreach (var h in hooks)
                if (h is IAttentionStateHook a) a.OnAttentionStates(Index, q.Span<float>(), k.Span<float>(), v.Span<float>(), batch * seq, batch);
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

    private static IReadOnlyList<ILinearInputHook>? Combine(IReadOnlyList<ILinearInputHook>? own, IReadOnlyList<ILinearInputHook>? extra) =>
        extra is not { Count: > 0 } ? own is { Count: > 0 } ? own : null
        : own is not { Count: > 0 } ? extra : [.. own, .. extra];

    // x: [tokens, width] f32 at one linear input, in place.
    private void OnInput(IReadOnlyList<ILinearInputHook>? hooks, LinearInput site, Tensor x, int tokens, int width, int sequences)
    {
        if (hooks is null) return;
        foreach (var h in hooks) h.OnInput(Index, site, x.Span<float>(), tokens, width, sequences);
    }

    // x: [tokens, in] f32 → [tokens, out] f32, plus the online adapter if any.
    private Tensor Linear(Tensor x, Tensor w, Tensor? bias, LayerLinear which, int tokens)
    {
        var y = Ops.Linear(x, w, bias);
        Adapters?.AddTo(Index, which, x.ReadOnlySpan<float>(), y.Span<float>(), tokens);
        return y;
    }

    // normed: [tokens, hidden] → q [tokens, q_dim], k, v [tokens, kv_dim]; one GEMM over the fused rows when present.
    private (Tensor Q, Tensor K, Tensor V) Qkv(Tensor normed, int tokens)
    {
        if (Weights.QkvProj is null)
        {
            return (Linear(normed, Weights.QProj, Weights.QBias, LayerLinear.QProj, tokens),
                Linear(normed, Weights.KProj, Weights.KBias, LayerLinear.KProj, tokens),
                Linear(normed, Weights.VProj, Weights.VBias, LayerLinear.VProj, tokens));
        }
        using var qkv = Ops.Linear(normed, Weights.QkvProj, Weights.QkvBias); // [tokens, q_dim + 2·kv_dim]
        var parts = Split(qkv, tokens, [_config.QDim, _config.KvDim, _config.KvDim]);
        AddAdapters(normed, parts, [LayerLinear.QProj, LayerLinear.KProj, LayerLinear.VProj], tokens);
        return (parts[0], parts[1], parts[2]);
    }

    // normed: [tokens, hidden] → gate, up [tokens, intermediate]
    private (Tensor Gate, Tensor Up) GateUp(Tensor normed, int tokens)
    {
        if (Weights.GateUpProj is null)
        {
            return (Linear(normed, Weights.GateProj, Weights.GateBias, LayerLinear.GateProj, tokens),
                Linear(normed, Weights.UpProj, Weights.UpBias, LayerLinear.UpProj, tokens));
        }
        using var gateUp = Ops.Linear(normed, Weights.GateUpProj, Weights.GateUpBias); // [tokens, 2·intermediate]
        var parts = Split(gateUp, tokens, [_config.IntermediateSize, _config.IntermediateSize]);
        AddAdapters(normed, parts, [LayerLinear.GateProj, LayerLinear.UpProj], tokens);
        return (parts[0], parts[1]);
    }

    private void AddAdapters(Tensor x, Tensor[] parts, LayerLinear[] which, int tokens)
    {
        if (Adapters is null) return;
        for (var i = 0; i < parts.Length; i++) Adapters.AddTo(Index, which[i], x.ReadOnlySpan<float>(), parts[i].Span<float>(), tokens);
    }

    // fused: [tokens, Σwidths] f32 → one [tokens, width] f32 tensor per width (column blocks, in order).
    private static Tensor[] Split(Tensor fused, int tokens, int[] widths)
    {
        var total = 0;
        foreach (var w in widths) total += w;
        var src = fused.ReadOnlySpan<float>();
        var parts = new Tensor[widths.Length];
        var offset = 0;
        for (var p = 0; p < widths.Length; p++)
        {
            var width = widths[p];
            parts[p] = Tensor.Empty(DType.F32, tokens, width);
            var dst = parts[p].Span<float>();
            for (var t = 0; t < tokens; t++) src.Slice(t * total + offset, width).CopyTo(dst.Slice(t * width, width));
            offset += width;
        }
        return parts;
    }

    public void Dispose() => Weights.Dispose();
}
