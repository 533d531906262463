using Offload.Compression.Quantization;
using Offload.Tensors;

namespace Offload.Compression.Checkpoint;

/// <summary>
/// One quantized linear handed to the checkpoint writer: its module name, scheme, weight [out, in] (the original weight
/// for RTN or GPTQ's fake-quantized weight; codes are round(w/s + zp) with <see cref="QParams"/> either way), qparams
/// and, for actorder=group, its g_idx [in]; with static input activations, the calibrated input scales. The writer does
/// not take ownership of <see cref="Weight"/>.
/// </summary>
public sealed record QuantizedLinear(string Module, QuantizationScheme Scheme, Tensor Weight, QParams QParams, int[]? GIdx = null,
    StaticInputScale? Input = null);
