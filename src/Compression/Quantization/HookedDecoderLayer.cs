using System.Buffers;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace Offload.Compression.Quantization;

/// <summary>
/// A Llama decoder layer whose four linear inputs pass through <see cref="ILinearInputHook"/>s before the linears read
/// them (activation fake-quantization, online rotations, Hessian capture). Same math as the model's DecoderLayer:
/// h = x + o_proj(attn(rope(q), rope(k), v)) over RMSNorm(x); y = h + down_proj(SiLU(gate)·up) over RMSNorm(h); causal
/// grouped-query attention (optionally sliding), f32; Qwen3's per-head q/k RMSNorms before RoPE. Hooks that are also
/// <see cref="IAttentionStateHook"/>s run on the post-RoPE q, k and v before the scores (R3, KV-cache observation and
/// fake-quantization), in list order. Evaluation only: no KV cache.
/// </summary>
public sealed class HookedDecoderLayer : IDecoderLayer, IDisposable
{
    private readonly LlamaConfig _config;
    private readonly RotaryEmbedding _rope;
    private readonly IReadOnlyList<ILinearInputHook> _hooks;
    private readonly float[] _inputNorm;
    private readonly float[] _postNorm;
    private readonly float[]? _qNorm;
    private readonly float[]? _kNorm;
    private readonly int? _window;
    private readonly bool _ownsWeights;

    /// <param name="weights">the layer's parameters (fake-quantized or not); disposed with the layer when <paramref name="ownsWeights"/>.</param>
    public HookedDecoderLayer(LlamaConfig config, int index, DecoderLayerWeights weights, RotaryEmbedding rope,
        IReadOnlyList<ILinearInputHook> hooks, bool ownsWeights = true)
    {
        _config = config;
        Index = index;
        Weights = weights;
        _rope = rope;
        _hooks = hooks;
        _ownsWeights = ownsWeights;
        _inputNorm = weights.InputLayerNorm.ToFloatArray();
        _postNorm = weights.PostAttentionLayerNorm.ToFloatArray();
        _qNorm = weights.QNorm?.ToFloatArray();
        _kNorm = weights.KNorm?.ToFloatArray();
        _window = config.SlidingWindowOf(index);
    }

    public int Index { get; }

    public DecoderLayerWeights Weights { get; }

    /// <inheritdoc />
    public Tensor Forward(Tensor x, LayerKvCache? cache = null)
    {
        // x: [batch, seq, hidden] f32 → [batch, seq, hidden] f32
        if (cache is not null) throw new NotSupportedException("the hooked (fake-quantized) layer evaluates whole windows; it keeps no KV cache");
        if (x.DType != DType.F32 || x.Rank != 3 || x.Dim(2) != _config.HiddenSize)
            throw new ArgumentException($"layer {Index} expects f32 [batch, seq, {_config.HiddenSize}], got {x}");
        var c = _config;
        var batch = checked((int)x.Dim(0));
        var seq = checked((int)x.Dim(1));
        var tokens = batch * seq;
        var eps = (float)c.RmsNormEps;
        var residual = x.Clone();
        try
        {
            using (var normed = Tensor.Empty(DType.F32, tokens, c.HiddenSize))
            {
                Normalization.RmsNorm(residual.ReadOnlySpan<float>(), _inputNorm, eps, normed.Span<float>(), c.HiddenSize);
                Hook(LinearInput.Attention, normed, tokens, c.HiddenSize, batch);
                using var q = Ops.Linear(normed, Weights.QProj, Weights.QBias); // [tokens, q_dim]
                using var k = Ops.Linear(normed, Weights.KProj, Weights.KBias); // [tokens, kv_dim]
                using var v = Ops.Linear(normed, Weights.VProj, Weights.VBias); // [tokens, kv_dim]
                if (_qNorm is not null) Normalization.RmsNorm(q.ReadOnlySpan<float>(), _qNorm, eps, q.Span<float>(), c.HeadDim); // per head
                if (_kNorm is not null) Normalization.RmsNorm(k.ReadOnlySpan<float>(), _kNorm, eps, k.Span<float>(), c.HeadDim);
                _rope.Apply(q.Span<float>(), c.NumAttentionHeads, seq, 0);
                _rope.Apply(k.Span<float>(), c.NumKeyValueHeads, seq, 0);
                foreach (var h in _hooks)
                    if (h is IAttentionStateHook a) a.OnAttentionStates(Index, q.Span<float>(), k.Span<float>(), v.Span<float>(), tokens, batch);
                using var attn = Tensor.Empty(DType.F32, tokens, c.QDim);
                CausalAttention(q, k, v, attn, batch, seq);
                Hook(LinearInput.AttentionOutput, attn, tokens, c.QDim, batch);
                using var o = Ops.Linear(attn, Weights.OProj, Weights.OBias);   // [tokens, hidden]
                TensorPrimitives.Add(residual.Span<float>(), o.ReadOnlySpan<float>(), residual.Span<float>());
            }
            using (var normed = Tensor.Empty(DType.F32, tokens, c.HiddenSize))
            {
                Normalization.RmsNorm(residual.ReadOnlySpan<float>(), _postNorm, eps, normed.Span<float>(), c.HiddenSize);
                Hook(LinearInput.Mlp, normed, tokens, c.HiddenSize, batch);
                using var gate = Ops.Linear(normed, Weights.GateProj, Weights.GateBias); // [tokens, intermediate]
                using (var up = Ops.Linear(normed, Weights.UpProj, Weights.UpBias))
                    Activations.SwiGlu(gate.ReadOnlySpan<float>(), up.ReadOnlySpan<float>(), gate.Span<float>());
                Hook(LinearInput.MlpDown, gate, tokens, c.IntermediateSize, batch);
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

    private void Hook(LinearInput site, Tensor x, int tokens, int width, int sequences)
    {
        foreach (var h in _hooks) h.OnInput(Index, site, x.Span<float>(), tokens, width, sequences);
    }

    // q, o: [batch·seq, heads·d]; k, v: [batch·seq, kv_heads·d]. Query i sees keys [max(0, i − window + 1), i].
    // One (batch row, head) after another (each GEMM already uses every BLAS thread; nesting parallel loops over a
    // multi-threaded BLAS oversubscribed the cores, see Model's Attention); each job writes its own columns of o.
    private void CausalAttention(Tensor q, Tensor k, Tensor v, Tensor o, int batch, int seq)
    {
        var c = _config;
        int heads = c.NumAttentionHeads, d = c.HeadDim, qDim = c.QDim, kvDim = c.KvDim, group = c.GroupSize;
        var scale = 1f / MathF.Sqrt(d);
        var window = _window;
        for (var job = 0; job < batch * heads; job++)
        {
            var b = job / heads;
            var h = job % heads;
            var g = h / group;
            var qs = q.ReadOnlySpan<float>()[(b * seq * qDim + h * d)..];
            var ks = k.ReadOnlySpan<float>()[(b * seq * kvDim + g * d)..];
            var vs = v.ReadOnlySpan<float>()[(b * seq * kvDim + g * d)..];
            var scores = ArrayPool<float>.Shared.Rent(seq * seq);
            try
            {
                var s = scores.AsSpan(0, seq * seq);
                Gemm.Sgemm(false, true, seq, seq, d, scale, qs, qDim, ks, kvDim, 0f, s, seq);
                for (var i = 0; i < seq; i++)
                {
                    var row = s.Slice(i * seq, seq);
                    var lo = window is { } w ? Math.Max(0, i - w + 1) : 0;
                    row[..lo].Clear();
                    Activations.Softmax(row[lo..(i + 1)], row[lo..(i + 1)], i + 1 - lo);
                    row[(i + 1)..].Clear();
                }
                Gemm.Sgemm(false, false, seq, d, seq, 1f, s, seq, vs, kvDim, 0f, o.Span<float>()[(b * seq * qDim + h * d)..], qDim);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(scores);
            }
        }
    }

    public void Dispose()
    {
        if (_ownsWeights) Weights.Dispose();
    }
}
