using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Offload.Transforms.Apply;

// Legend: k = base order (rows of G), len = elements per row of src/dst handled in one call.

/// <summary>
/// The dense k×k stage of the n = k·2^m fast path: dst[j] = Σᵢ G[j][i]·src[i] for k row vectors, G with entries ±1.
/// Multiplying by ±1 is exact, so each term is ±src[i] and the sum equals an add/sub chain in the order i = 0…k−1.
/// </summary>
internal static class SignMix
{
    /// <summary>
    /// dst[j·dstStride + p] = Σᵢ g[j·k + i]·src[i·srcStride + p] for j &lt; k, p &lt; len.
    /// g: [k, k] (±1), src: k rows of stride srcStride, dst: k rows of stride dstStride (must not overlap src).
    /// </summary>
    public static void Mix<T>(ReadOnlySpan<T> g, int k, ReadOnlySpan<T> src, int srcStride, Span<T> dst, int dstStride, int len)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ref var ps = ref MemoryMarshal.GetReference(src);
        ref var pd = ref MemoryMarshal.GetReference(dst);
        var p = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256<T>.Count;
            // 4 vectors per tile: the k×tile slice of src (k·4·32 bytes) stays in L1 while every j reuses it.
            for (; p <= len - 4 * w; p += 4 * w)
            {
                for (var j = 0; j < k; j++)
                {
                    var a0 = Vector256<T>.Zero;
                    var a1 = Vector256<T>.Zero;
                    var a2 = Vector256<T>.Zero;
                    var a3 = Vector256<T>.Zero;
                    var gRow = j * k;
                    for (var i = 0; i < k; i++)
                    {
                        var s = Vector256.Create(g[gRow + i]);
                        var off = (nuint)(i * srcStride + p);
                        a0 = MulAdd(s, Vector256.LoadUnsafe(ref ps, off), a0);
                        a1 = MulAdd(s, Vector256.LoadUnsafe(ref ps, off + (nuint)w), a1);
                        a2 = MulAdd(s, Vector256.LoadUnsafe(ref ps, off + (nuint)(2 * w)), a2);
                        a3 = MulAdd(s, Vector256.LoadUnsafe(ref ps, off + (nuint)(3 * w)), a3);
                    }
                    var o = (nuint)(j * dstStride + p);
                    a0.StoreUnsafe(ref pd, o);
                    a1.StoreUnsafe(ref pd, o + (nuint)w);
                    a2.StoreUnsafe(ref pd, o + (nuint)(2 * w));
                    a3.StoreUnsafe(ref pd, o + (nuint)(3 * w));
                }
            }
            for (; p <= len - w; p += w)
            {
                for (var j = 0; j < k; j++)
                {
                    var a0 = Vector256<T>.Zero;
                    var gRow = j * k;
                    for (var i = 0; i < k; i++)
                        a0 = MulAdd(Vector256.Create(g[gRow + i]), Vector256.LoadUnsafe(ref ps, (nuint)(i * srcStride + p)), a0);
                    a0.StoreUnsafe(ref pd, (nuint)(j * dstStride + p));
                }
            }
        }
        for (; p < len; p++)
        {
            for (var j = 0; j < k; j++)
            {
                var acc = T.Zero;
                var gRow = j * k;
                for (var i = 0; i < k; i++) acc += g[gRow + i] * src[i * srcStride + p];
                dst[j * dstStride + p] = acc;
            }
        }
    }

    /// <summary>acc + s·x; with s = ±1 the product is exact, so the fused and unfused forms give the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> MulAdd<T>(Vector256<T> s, Vector256<T> x, Vector256<T> acc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Fma.IsSupported)
        {
            if (typeof(T) == typeof(float)) return Fma.MultiplyAdd(s.AsSingle(), x.AsSingle(), acc.AsSingle()).As<float, T>();
            if (typeof(T) == typeof(double)) return Fma.MultiplyAdd(s.AsDouble(), x.AsDouble(), acc.AsDouble()).As<double, T>();
        }
        return acc + s * x;
    }
}
