using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Offload.Protocol;
using Offload.Tensors.Formats;

namespace Offload.Tensors;

/// <summary>
/// Element-wise dtype conversion between host tensors (float dtypes, 8-bit floats and integers). Conversions to
/// F8_E4M3 / F8_E5M2 are torch's casts (<see cref="Float8E4M3.Encode(float)"/>, <see cref="Float8E5M2.Encode(float)"/>:
/// round to nearest even, no saturation), taken from f32 as torch does (an f64 source is rounded to f32 first).
/// </summary>
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
            case DType.BF16 when src.DType == DType.F32:
                F32ToBF16(new ReadOnlySpan<float>(src.Pointer, checked((int)n)), new Span<ushort>(dst.Pointer, checked((int)n)));
                return;
            case DType.F16 when src.DType == DType.F32:
                F32ToF16(new ReadOnlySpan<float>(src.Pointer, checked((int)n)), new Span<Half>(dst.Pointer, checked((int)n)));
                return;
            case DType.F8E4M3 or DType.F8E5M2:
            {
                var dstBytes = new Span<byte>(dst.Pointer, checked((int)n));
                ReadOnlySpan<float> values = src.DType == DType.F32 ? new ReadOnlySpan<float>(src.Pointer, checked((int)n)) : ToF32Array(src);
                if (dst.DType == DType.F8E4M3) Float8E4M3.Encode(values, dstBytes);
                else Float8E5M2.Encode(values, dstBytes);
                return;
            }
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
            case DType.F8E4M3: Float8E4M3.Decode(new ReadOnlySpan<byte>(p, n), dst); break;
            case DType.F8E5M2: Float8E5M2.Decode(new ReadOnlySpan<byte>(p, n), dst); break;
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
            case DType.F8E4M3: for (var i = 0; i < n; i++) dst[i] = Float8E4M3.Decode(p[i]); break;
            case DType.F8E5M2: for (var i = 0; i < n; i++) dst[i] = Float8E5M2.Decode(p[i]); break;
            default: throw new NotSupportedException($"conversion from {src.DType}");
        }
    }

    private static float[] ToF32Array(Tensor src)
    {
        var tmp = new float[src.ElementCount];
        ToF32(src, tmp);
        return tmp;
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

    /// <summary>bf16 bits → f32, exact (Vector256: widen to 32 bits and shift into the high half).</summary>
    public static void BF16ToF32(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        var i = 0;
        if (Vector256.IsHardwareAccelerated && src.Length >= Vector256<ushort>.Count)
        {
            ref var s = ref MemoryMarshal.GetReference(src);
            ref var d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(dst));
            var step = Vector256<ushort>.Count;
            for (; i <= src.Length - step; i += step)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                Vector256.ShiftLeft(lo, 16).StoreUnsafe(ref d, (nuint)i);
                Vector256.ShiftLeft(hi, 16).StoreUnsafe(ref d, (nuint)(i + step / 2));
            }
        }
        for (; i < src.Length; i++) dst[i] = DTypeConvert.BF16ToF32(src[i]);
    }

    /// <summary>f32 → bf16 bits, round to nearest even, NaN kept (Vector256 version of <see cref="DTypeConvert.F32ToBF16"/>).</summary>
    public static void F32ToBF16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination is shorter than the source", nameof(dst));
        var i = 0;
        if (Vector256.IsHardwareAccelerated && src.Length >= Vector256<ushort>.Count)
        {
            ref var s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(src));
            ref var d = ref MemoryMarshal.GetReference(dst);
            var step = Vector256<ushort>.Count;
            for (; i <= src.Length - step; i += step)
            {
                var lo = RoundToBF16(Vector256.LoadUnsafe(ref s, (nuint)i));
                var hi = RoundToBF16(Vector256.LoadUnsafe(ref s, (nuint)(i + step / 2)));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < src.Length; i++) dst[i] = DTypeConvert.F32ToBF16(src[i]);
    }

    /// <summary>The bf16 bits (in the low half of each lane) of eight f32 bit patterns; same rules as the scalar version.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundToBF16(Vector256<uint> u)
    {
        var high = Vector256.ShiftRightLogical(u, 16);
        var rounded = Vector256.ShiftRightLogical(u + Vector256.Create(0x7FFFu) + (high & Vector256.Create(1u)), 16);
        var isNaN = Vector256.GreaterThan(u & Vector256.Create(0x7FFF_FFFFu), Vector256.Create(0x7F80_0000u));
        var quiet = Vector256.Equals(high & Vector256.Create(0x7Fu), Vector256<uint>.Zero) & Vector256.Create(0x40u);
        return Vector256.ConditionalSelect(isNaN, high | quiet, rounded);
    }

    /// <summary>f32 → f16, round to nearest even.</summary>
    public static void F32ToF16(ReadOnlySpan<float> src, Span<Half> dst) =>
        System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(src, dst);
}
