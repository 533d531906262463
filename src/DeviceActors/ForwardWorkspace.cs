using Offload.Model.Config;
using Offload.Protocol;

namespace Offload.DeviceActors;

/// <summary>
/// Upper bounds of the transient device bytes a forward allocates besides the parameters, reserved on each device so
/// that the ledger covers everything a device holds: the batch's input and output, every intermediate of the layer,
/// the f32 conversion of the largest non-f32 weight (Ops.Linear converts per call) and the attention score blocks.
/// </summary>
public static class ForwardWorkspace
{
    private const int AttentionQueryBlock = 64;         // Attention.Causal's query block
    private const long HeadConvertBlockElements = 1 << 22; // OutputHead's converted lm_head rows per block

    /// <summary>A decoder layer's forward on [rows, seq] tokens with weights stored as <paramref name="weightDType"/>.</summary>
    public static long Decoder(LlamaConfig c, DType weightDType, int rows, int seq)
    {
        long tokens = (long)rows * seq;
        long floats = tokens * (5L * c.HiddenSize + 2L * c.QDim + 2L * c.KvDim + 3L * c.IntermediateSize);
        long convert = weightDType == DType.F32 ? 0 : 4L * Math.Max(
            Math.Max((long)c.QDim * c.HiddenSize, (long)c.HiddenSize * c.QDim),
            (long)c.IntermediateSize * c.HiddenSize);
        long scores = 4L * Math.Min(seq, AttentionQueryBlock) * seq * Math.Min(rows * c.NumAttentionHeads, Environment.ProcessorCount);
        return 4 * floats + convert + scores;
    }

    /// <summary>The head on one window of <paramref name="seq"/> tokens (windows are scored one at a time).</summary>
    public static long Head(LlamaConfig c, DType lmHeadDType, int seq)
    {
        long vocabRows = c.VocabSize;
        long lmElements = vocabRows * c.HiddenSize;
        long convert = lmHeadDType == DType.F32 ? 0 : 4L * Math.Min(lmElements, HeadConvertBlockElements + c.HiddenSize);
        long partial = 4L * seq * Math.Min(vocabRows, Math.Max(1, HeadConvertBlockElements / c.HiddenSize));
        return 4L * seq * (2L * c.HiddenSize + 2L * vocabRows) + convert + partial;
    }
}
