using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Forward;

/// <summary>`model.embed_tokens`: rows of a [vocab, hidden] table in any float dtype, gathered as f32. Owns the tensor.</summary>
public sealed unsafe class TokenEmbedding(Tensor weight) : IDisposable
{
    public Tensor Weight { get; } = weight.Rank == 2 && DecoderLayerWeights.IsReadable(weight.DType)
        ? weight
        : throw new ArgumentException($"embedding must be a 2-D f32/f16/bf16 tensor, got {weight}");

    public int VocabSize => checked((int)Weight.Dim(0));
    public int HiddenSize => checked((int)Weight.Dim(1));

    /// <summary>tokens: [batch·seq] ids → [batch, seq, hidden] f32.</summary>
    public Tensor Lookup(ReadOnlySpan<int> tokens, int batch, int seq)
    {
        if (tokens.Length != batch * seq) throw new ArgumentException($"{tokens.Length} tokens do not fill [{batch}, {seq}]");
        var hidden = HiddenSize;
        var result = Tensor.Empty(DType.F32, batch, seq, hidden);
        var dst = result.Span<float>();
        for (var t = 0; t < tokens.Length; t++) Row(tokens[t], dst.Slice(t * hidden, hidden));
        return result;
    }

    /// <summary>Row <paramref name="token"/> as f32 into <paramref name="dst"/> [hidden].</summary>
    public void Row(int token, Span<float> dst)
    {
        if ((uint)token >= (uint)VocabSize) throw new ArgumentOutOfRangeException(nameof(token), $"token id {token} is outside the vocabulary [0, {VocabSize})");
        var hidden = HiddenSize;
        var p = Weight.Pointer + (long)token * hidden * Weight.DType.SizeOf();
        switch (Weight.DType)
        {
            case DType.F32:
                new ReadOnlySpan<float>(p, hidden).CopyTo(dst);
                break;
            case DType.BF16:
                TensorConvert.BF16ToF32(new ReadOnlySpan<ushort>(p, hidden), dst);
                break;
            default:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(p, hidden), dst);
                break;
        }
    }

    public void Dispose() => Weight.Dispose();
}
