using System.Numerics.Tensors;

namespace Offload.Model.Forward;

/// <summary>
/// The elementwise kernels of the Llama forward pass (RMSNorm, softmax, SiLU·up) on spans, f32, over
/// TensorPrimitives. Private to the model until the kernels project offers the same under Offload.Tensors.
/// </summary>
internal static class ModelKernels
{
    /// <summary>
    /// RMSNorm of each row, as transformers computes it in f32: y = (x · 1/√(mean(x²) + eps)) · w.
    /// x, y: [rows, width] f32 (may alias); w: [width].
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float eps, Span<float> y)
    {
        var width = w.Length;
        var rows = x.Length / width;
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * width, width);
            var yr = y.Slice(r * width, width);
            var meanSquare = TensorPrimitives.SumOfSquares(xr) / width;
            var inv = 1f / MathF.Sqrt(meanSquare + eps);
            TensorPrimitives.Multiply(xr, inv, yr);
            TensorPrimitives.Multiply(yr, w, yr);
        }
    }

    /// <summary>Numerically stable softmax in place: exp(x − max) / Σ.</summary>
    public static void SoftmaxInPlace(Span<float> row)
    {
        var max = TensorPrimitives.Max(row);
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        var sum = TensorPrimitives.Sum(row);
        TensorPrimitives.Divide(row, sum, row);
    }

    /// <summary>SwiGLU activation in place: gate ← SiLU(gate) · up = gate · σ(gate) · up. scratch: same length as gate.</summary>
    public static void SiluMul(Span<float> gate, ReadOnlySpan<float> up, Span<float> scratch)
    {
        TensorPrimitives.Sigmoid(gate, scratch);
        TensorPrimitives.Multiply(gate, scratch, gate);
        TensorPrimitives.Multiply(gate, up, gate);
    }
}
