using Offload.Compression.Checkpoint;
using Offload.Compression.Quantization;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Compression.Gptq;

/// <summary>
/// The outcome for one linear: its fake-quantized weight [rows, cols] (values of <see cref="DType"/>), qparams, g_idx
/// (actorder=group), GPTQ loss (0 for RTN) and whether GPTQ fell back to RTN.
/// </summary>
public sealed record LinearQuantization(string Module, QuantizationScheme Scheme, float[] Weight, int Rows, int Cols, DType DType,
    QParams QParams, int[]? GIdx, double Loss, bool FellBackToRtn)
{
    /// <summary>The weight as a tensor of its dtype (caller disposes).</summary>
    public Tensor WeightTensor()
    {
        using var f32 = Tensor.FromArray(Weight, Rows, Cols);
        return DType == DType.F32 ? f32.Clone() : f32.To(DType);
    }

    /// <summary>The writer's view; the tensor is created now and owned by the caller of <see cref="ToQuantizedLinear"/>.</summary>
    public QuantizedLinear ToQuantizedLinear() => new(Module, Scheme, WeightTensor(), QParams, GIdx);
}
