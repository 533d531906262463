namespace Offload.Protocol;

/// <summary>Element type of a tensor. Names follow safetensors' dtype strings (see <see cref="DTypeNames"/>).</summary>
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
}
