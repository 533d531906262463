using System.Numerics.Tensors;

namespace Offload.Tensors.Kernels;

/// <summary>Row normalizations on f32 spans.</summary>
public static class Normalization
{
    /// <summary>
    /// RMSNorm of each row of <paramref name="cols"/> values: y = x / √(mean(x²) + eps) · w (Llama's LlamaRMSNorm on
    /// f32). mean(x²) is accumulated in f64 (each square exact) and the scale 1/√(mean + eps) is computed in f64, then
    /// applied in f32: x·scale first, then ·w, the order HF uses. y may be x (in place).
    /// </summary>
    /// <param name="x">[rows, cols] f32.</param>
    /// <param name="weight">[cols] f32.</param>
    /// <param name="y">[rows, cols] f32.</param>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        if (weight.Length != cols) throw new ArgumentException($"RMSNorm weight has {weight.Length} values for rows of {cols}", nameof(weight));
        if (x.Length % cols != 0) throw new ArgumentException($"{x.Length} values are not whole rows of {cols}", nameof(x));
        if (y.Length < x.Length) throw new ArgumentException("output is shorter than the input", nameof(y));
        var rows = x.Length / cols;
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            var meanSquare = Reductions.SumOfSquaresF64(xr) / cols;
            var scale = (float)(1.0 / Math.Sqrt(meanSquare + eps));
            TensorPrimitives.Multiply(xr, scale, yr);
            TensorPrimitives.Multiply(yr, weight, yr);
        }
    }
}
