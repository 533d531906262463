namespace Offload.Protocol;

/// <summary>Sizes and safetensors names of <see cref="DType"/>; the only place where dtype strings are mapped.</summary>
public static class DTypeNames
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.I8 or DType.U8 or DType.Bool or DType.F8E4M3 or DType.F8E5M2 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>The safetensors header name ("F32", "BF16", "BOOL", …).</summary>
    public static string ToSafetensorsName(this DType dtype) => dtype switch
    {
        DType.F64 => "F64",
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.I64 => "I64",
        DType.I32 => "I32",
        DType.I16 => "I16",
        DType.I8 => "I8",
        DType.U8 => "U8",
        DType.Bool => "BOOL",
        DType.F8E4M3 => "F8_E4M3",
        DType.F8E5M2 => "F8_E5M2",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>Parses a safetensors dtype name; false for names we do not support (F8_E8M0, U16, …).</summary>
    public static bool TryParseSafetensorsName(string name, out DType dtype)
    {
        switch (name)
        {
            case "F64": dtype = DType.F64; return true;
            case "F32": dtype = DType.F32; return true;
            case "F16": dtype = DType.F16; return true;
            case "BF16": dtype = DType.BF16; return true;
            case "I64": dtype = DType.I64; return true;
            case "I32": dtype = DType.I32; return true;
            case "I16": dtype = DType.I16; return true;
            case "I8": dtype = DType.I8; return true;
            case "U8": dtype = DType.U8; return true;
            case "BOOL": dtype = DType.Bool; return true;
            case "F8_E4M3": dtype = DType.F8E4M3; return true;
            case "F8_E5M2": dtype = DType.F8E5M2; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>The torch name used in config.json ("float32", "bfloat16", "float16").</summary>
    public static string ToTorchName(this DType dtype) => dtype switch
    {
        DType.F64 => "float64",
        DType.F32 => "float32",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        DType.I64 => "int64",
        DType.I32 => "int32",
        DType.I16 => "int16",
        DType.I8 => "int8",
        DType.U8 => "uint8",
        DType.Bool => "bool",
        DType.F8E4M3 => "float8_e4m3fn",
        DType.F8E5M2 => "float8_e5m2",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>Parses a torch dtype name as written in config.json (also accepts the short forms "f32", "bf16", "fp16").</summary>
    public static bool TryParseTorchName(string name, out DType dtype)
    {
        switch (name.ToLowerInvariant())
        {
            case "float64" or "double" or "f64": dtype = DType.F64; return true;
            case "float32" or "float" or "f32" or "fp32": dtype = DType.F32; return true;
            case "float16" or "half" or "f16" or "fp16": dtype = DType.F16; return true;
            case "bfloat16" or "bf16": dtype = DType.BF16; return true;
            case "int64" or "i64": dtype = DType.I64; return true;
            case "int32" or "i32": dtype = DType.I32; return true;
            case "int16" or "i16": dtype = DType.I16; return true;
            case "int8" or "i8": dtype = DType.I8; return true;
            case "uint8" or "u8": dtype = DType.U8; return true;
            case "bool": dtype = DType.Bool; return true;
            case "float8_e4m3fn": dtype = DType.F8E4M3; return true;
            case "float8_e5m2": dtype = DType.F8E5M2; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>
    /// True for the floating-point dtypes that hold working values (F64, F32, F16, BF16). The 8-bit storage floats
    /// (<see cref="DType.F8E4M3"/>, <see cref="DType.F8E5M2"/>) are not included: see <see cref="IsFloat8"/>.
    /// </summary>
    public static bool IsFloat(this DType dtype) => dtype is DType.F64 or DType.F32 or DType.F16 or DType.BF16;

    /// <summary>True for the 8-bit float storage dtypes (F8_E4M3, F8_E5M2).</summary>
    public static bool IsFloat8(this DType dtype) => dtype is DType.F8E4M3 or DType.F8E5M2;
}
