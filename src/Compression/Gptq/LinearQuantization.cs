using Offload.Compression.Checkpoint;
using Offload.Compression.Quantization;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Compression.Gptq;

/// <summary>
/// The outcome for one linear: its fake-quantized weight [rows, cols] (values of <see cref="DType"/>), qparams, g_idx
/// (actorder=group), GPTQ loss (0 for RTN) and whether GPTQ fell back to RTN. For RTN, <see cref="Source"/> keeps the
/// original weight: the writer quantizes it, as llm-compressor's compressor does (this differs from re-quantizing the
/// fake-quantized weight only in the sign of fp4 zeros: a small negative is −0, nibble 8). <see cref="Input"/> holds the
/// calibrated input scales of static input activations (FP8 input_scale, NVFP4 input_global_scale).
/// </summary>
public sealed record LinearQuantization(string Module, QuantizationScheme Scheme, float[] Weight, int Rows, int Cols, DType DType,
    QParams QParams, int[]? GIdx, double Loss, bool FellBackToRtn, float[]? Source = null, StaticInputScale? Input = null)
{
    /// <summary>The weight as a tensor of its dtype (caller disposes).</summary>
    public Tensor WeightTensor() => TensorOf(Weight);

    /// <summary>The writer's view (the source weight for RTN); the tensor is created now and owned by the caller of <see cref="ToQuantizedLinear"/>.</summary>
    public QuantizedLinear ToQuantizedLinear() => new(Module, Scheme, TensorOf(Source ?? Weight), QParams, GIdx, Input);

    private Tensor TensorOf(float[] values)
    {
        using var f32 = Tensor.FromArray(values, Rows, Cols);
        return DType == DType.F32 ? f32.Clone() : f32.To(DType);
    }
}
