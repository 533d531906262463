using Offload.Protocol;

namespace Offload.Tensors;

/// <summary>Element-wise dtype conversion between host tensors (float dtypes and integers).</summary>
public static unsafe class TensorConvert
{
    /// <summary>Copies <paramref name="src"/> into <paramref name="dst"/> (same element count), converting the dtype.</summary>
    public static void Copy(Tensor src, Tensor dst)
    {
        if (src.ElementCount != dst.ElementCount) throw new ArgumentException($"element counts differ: {src.ElementCount} vs {dst.ElementCount}");
        if (src.DType == dst.DType)
        {
            Buffer.MemoryCopy(src.Pointer, dst.Pointer, dst.ByteLength, src.ByteLength);
            return;
        }
        var n = src.ElementCount;
        switch (dst.DType)
        {
            case DType.F32:
                ToF32(src, new Span<float>(dst.Pointer, checked((int)n)));
                return;
            case DType.F64:
                ToF64(src, new Span<double>(dst.Pointer, checked((int)n)));
                return;
            case DType.BF16:
            {
                var tmp = new float[n];
                ToF32(src, tmp);
                F32ToBF16(tmp, new Span<ushort>(dst.Pointer, checked((int)n)));
                return;
            }
            case DType.F16:
            {
                var tmp = new float[n];
                ToF32(src, tmp);
                F32ToF16(tmp, new Span<Half>(dst.Pointer, checked((int)n)));
                return;
            }
            default:
            {
                var tmp = new double[n];
                ToF64(src, tmp);
                FromF64(tmp, dst);
                return;
            }
        }
    }

    /// <summary>src (any numeric dtype) → f32.</summary>
    public static void ToF32(Tensor src, Span<float> dst)
    {
        var n = checked((int)src.ElementCount);
        if (dst.Length != n) throw new ArgumentException("destination length differs from the element count");
        var p = src.Pointer;
        switch (src.DType)
        {
            case DType.F32: new ReadOnlySpan<float>(p, n).CopyTo(dst); break;
            case DType.BF16: BF16ToF32(new ReadOnlySpan<ushort>(p, n), dst); break;
            case DType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(p, n), dst); break;
            case DType.F64: for (var i = 0; i < n; i++) dst[i] = (float)((double*)p)[i]; break;
            default:
                var d = new double[n];
                ToF64(src, d);
                for (var i = 0; i < n; i++) dst[i] = (float)d[i];
                break;
        }
    }

    /// <summary>src (any numeric dtype) → f64 (exact for every dtype but i64 beyond 2^53).</summary>
    public static void ToF64(Tensor src, Span<double> dst)
    {
        var n = checked((int)src.ElementCount);
        if (dst.Length != n) throw new ArgumentException("destination length differs from the element count");
        var p = src.Pointer;
        switch (src.DType)
        {
            case DType.F64: new ReadOnlySpan<double>(p, n).CopyTo(dst); break;
            case DType.F32: for (var i = 0; i < n; i++) dst[i] = ((float*)p)[i]; break;
            case DType.BF16: for (var i = 0; i < n; i++) dst[i] = DTypeConvert.BF16ToF32(((ushort*)p)[i]); break;
            case DType.F16: for (var i = 0; i < n; i++) dst[i] = (double)((Half*)p)[i]; break;
            case DType.I64: for (var i = 0; i < n; i++) dst[i] = ((long*)p)[i]; break;
            case DType.I32: for (var i = 0; i < n; i++) dst[i] = ((int*)p)[i]; break;
            case DType.I16: for (var i = 0; i < n; i++) dst[i] = ((short*)p)[i]; break;
            case DType.I8: for (var i = 0; i < n; i++) dst[i] = ((sbyte*)p)[i]; break;
            case DType.U8: for (var i = 0; i < n; i++) dst[i] = p[i]; break;
            case DType.Bool: for (var i = 0; i < n; i++) dst[i] = p[i] != 0 ? 1 : 0; break;
            default: throw new NotSupportedException($"conversion from {src.DType}");
        }
    }

    private static void FromF64(ReadOnlySpan<double> src, Tensor dst)
    {
        var p = dst.Pointer;
        var n = src.Length;
        switch (dst.DType)
        {
            case DType.I64: for (var i = 0; i < n; i++) ((long*)p)[i] = checked((long)Math.Round(src[i], MidpointRounding.ToEven)); break;
            case DType.I32: for (var i = 0; i < n; i++) ((int*)p)[i] = checked((int)Math.Round(src[i], MidpointRounding.ToEven)); break;
            case DType.I16: for (var i = 0; i < n; i++) ((short*)p)[i] = checked((short)Math.Round(src[i], MidpointRounding.ToEven)); break;
            case DType.I8: for (var i = 0; i < n; i++) ((sbyte*)p)[i] = checked((sbyte)Math.Round(src[i], MidpointRounding.ToEven)); break;
            case DType.U8: for (var i = 0; i < n; i++) p[i] = checked((byte)Math.Round(src[i], MidpointRounding.ToEven)); break;
            case DType.Bool: for (var i = 0; i < n; i++) p[i] = src[i] != 0 ? (byte)1 : (byte)0; break;
            default: throw new NotSupportedException($"conversion to {dst.DType}");
        }
    }

    /// <summary>bf16 bits → f32, exact.</summary>
    public static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        for (var i = 0; i < src.Length; i++) dst[i] = DTypeConvert.BF16ToF32(src[i]);
    }

    /// <summary>f32 → bf16 bits, round to nearest even.</summary>
    public static void F32ToBF16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        for (var i = 0; i < src.Length; i++) dst[i] = DTypeConvert.F32ToBF16(src[i]);
    }

    /// <summary>f32 → f16, round to nearest even.</summary>
    public static void F32ToF16(ReadOnlySpan<float> src, Span<Half> dst) =>
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(src, dst);
}
