using Offload.Compression.Quantization;

namespace Offload.Compression.Gptq;

/// <summary>
/// What GPTQ produced for one linear: the dequantized (fake-quantized) weight [out, in] in the original column order,
/// holding values of the weight dtype; its qparams; the g_idx [in] for actorder=group (else null); the summed loss
/// Σ (w − q)²/d² / 2; whether the Cholesky failed and the result is plain round-to-nearest.
/// </summary>
public sealed record GptqResult(float[] Weight, QParams QParams, int[]? GIdx, double Loss, bool FellBackToRtn);
