using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Offload.Tensors.Kernels;

/// <summary>Reductions of f32 data accumulated in f64 (Vector256 widening), for sums whose rounding matters: norms, softmax denominators.</summary>
public static class Reductions
{
    /// <summary>Σ x, accumulated in f64.</summary>
    public static double SumF64(ReadOnlySpan<float> x) => Accumulate(x, squares: false);

    /// <summary>Σ x², accumulated in f64 (each square is exact in f64).</summary>
    public static double SumOfSquaresF64(ReadOnlySpan<float> x) => Accumulate(x, squares: true);

    private static double Accumulate(ReadOnlySpan<float> x, bool squares)
    {
        var i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            ref var p = ref MemoryMarshal.GetReference(x);
            Vector256<double> acc0 = default, acc1 = default;
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref p, (nuint)i));
                if (squares)
                {
                    acc0 += lo * lo;
                    acc1 += hi * hi;
                }
                else
                {
                    acc0 += lo;
                    acc1 += hi;
                }
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < x.Length; i++) sum += squares ? (double)x[i] * x[i] : x[i];
        return sum;
    }
}
