using Offload.Tensors.Kernels;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Forward;

/// <summary>
/// `model.norm` followed by `lm_head`: logits = RMSNorm(h) · Wᵀ. A non-f32 lm_head is converted to f32 in row
/// blocks, so a large vocabulary never needs a full f32 copy. Owns both tensors.
/// </summary>
public sealed class OutputHead : IDisposable
{
    private const long ConvertBlockElements = 1 << 22; // 16 MB of f32 per converted block of lm_head rows
    private readonly float[] _norm;
    private readonly float _eps;

    /// <param name="finalNorm">[hidden], any float dtype.</param>
    /// <param name="lmHead">[vocab, hidden], any float dtype (for tied embeddings, a <see cref="Tensor.Share"/> of the embedding).</param>
    public OutputHead(Tensor finalNorm, Tensor lmHead, double eps)
    {
        if (lmHead.Rank != 2 || finalNorm.ElementCount != lmHead.Dim(1))
            throw new ArgumentException($"lm_head {lmHead} does not fit final norm {finalNorm}");
        FinalNorm = finalNorm;
        LmHead = lmHead;
        _norm = finalNorm.ToFloatArray();
        _eps = (float)eps;
    }

    public Tensor FinalNorm { get; }
    public Tensor LmHead { get; }
    public int VocabSize => checked((int)LmHead.Dim(0));
    public int HiddenSize => checked((int)LmHead.Dim(1));

    /// <summary>hidden: [..., hidden] f32 (the last layer's output) → RMSNorm(hidden): same shape, f32.</summary>
    public Tensor Normalize(Tensor hidden)
    {
        var result = Tensor.Empty(DType.F32, hidden.Shape.ToArray());
        Normalization.RmsNorm(hidden.ReadOnlySpan<float>(), _norm, _eps, result.Span<float>(), _norm.Length);
        return result;
    }

    /// <summary>hidden: [..., hidden] f32 → logits [..., vocab] f32.</summary>
    public Tensor Logits(Tensor hidden)
    {
        var shape = hidden.Shape.ToArray();
        shape[^1] = VocabSize;
        using var normed = Normalize(hidden);
        var tokens = checked((int)(hidden.ElementCount / HiddenSize));
        if (LmHead.DType == DType.F32 || LmHead.ElementCount <= ConvertBlockElements)
        {
            using var flat = Ops.Linear(normed, LmHead); // [tokens, vocab]
            return flat.Reshape(shape);
        }
        var logits = Tensor.Empty(DType.F32, shape);
        try
        {
            var vocab = VocabSize;
            var rowsPerBlock = (int)Math.Max(1, ConvertBlockElements / HiddenSize);
            var dst = logits.Span<float>();
            for (var r0 = 0; r0 < vocab; r0 += rowsPerBlock)
            {
                var n = Math.Min(rowsPerBlock, vocab - r0);
                using var block = LmHead.Slice(r0, n);
                using var part = Ops.Linear(normed, block); // [tokens, n]
                var ps = part.ReadOnlySpan<float>();
                for (var t = 0; t < tokens; t++) ps.Slice(t * n, n).CopyTo(dst.Slice(t * vocab + r0, n));
            }
            return logits;
        }
        catch
        {
            logits.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        FinalNorm.Dispose();
        LmHead.Dispose();
    }
}
