namespace Offload.Protocol;

/// <summary>
/// Element type of a tensor. Names follow safetensors' dtype strings (see <see cref="DTypeNames"/>). The numeric values
/// are persisted (messages, journals): append new members at the end, never reorder.
/// </summary>
public enum DType : byte
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,

    /// <summary>8-bit float e4m3fn (torch.float8_e4m3fn; safetensors "F8_E4M3"): no infinity, NaN = 0x7F/0xFF, max 448.</summary>
    F8E4M3,

    /// <summary>8-bit float e5m2 (torch.float8_e5m2; safetensors "F8_E5M2"): IEEE-like with ±Inf and NaN, max 57344.</summary>
    F8E5M2,
}
