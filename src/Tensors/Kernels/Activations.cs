using System.Numerics.Tensors;

namespace Offload.Tensors.Kernels;

/// <summary>
/// Element-wise activations and row-wise softmax on f32 spans, over TensorPrimitives. Outputs may be the inputs
/// themselves (in place); other overlaps are not allowed.
/// </summary>
public static class Activations
{
    /// <summary>Values processed per stack chunk (4 KiB) so that in-place calls need no heap scratch.</summary>
    private const int Chunk = 1024;

    /// <summary>SiLU: y = x·σ(x) = x / (1 + e⁻ˣ).</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("output is shorter than the input", nameof(y));
        Span<float> sig = stackalloc float[Chunk];
        for (var i = 0; i < x.Length; i += Chunk)
        {
            var len = Math.Min(Chunk, x.Length - i);
            var s = sig[..len];
            TensorPrimitives.Sigmoid(x.Slice(i, len), s);
            TensorPrimitives.Multiply(x.Slice(i, len), s, y.Slice(i, len));
        }
    }

    /// <summary>SwiGLU's gate: y = silu(gate)·up (the Llama MLP's input to down_proj).</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> y)
    {
        if (up.Length != gate.Length) throw new ArgumentException($"gate has {gate.Length} values but up has {up.Length}", nameof(up));
        if (y.Length < gate.Length) throw new ArgumentException("output is shorter than the input", nameof(y));
        Span<float> sig = stackalloc float[Chunk];
        for (var i = 0; i < gate.Length; i += Chunk)
        {
            var len = Math.Min(Chunk, gate.Length - i);
            var s = sig[..len];
            TensorPrimitives.Sigmoid(gate.Slice(i, len), s);
            TensorPrimitives.Multiply(gate.Slice(i, len), s, s);
            TensorPrimitives.Multiply(s, up.Slice(i, len), y.Slice(i, len));
        }
    }

    /// <summary>
    /// Softmax of each row of <paramref name="cols"/> values: y = e^(x − max) / Σ e^(x − max). Subtracting the row
    /// maximum keeps every exponent ≤ 0, so nothing overflows; the denominator is summed in f64. A row with a NaN,
    /// or with every value −∞ (fully masked), gives NaN.
    /// </summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y, int cols)
    {
        var rows = CheckRows(x.Length, y.Length, cols);
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            var max = TensorPrimitives.Max(xr);
            TensorPrimitives.Subtract(xr, max, yr);
            TensorPrimitives.Exp(yr, yr);
            var sum = (float)Reductions.SumF64(yr);
            TensorPrimitives.Divide(yr, sum, yr);
        }
    }

    /// <summary>Log-softmax of each row: y = x − max − ln Σ e^(x − max) (stable; for log-likelihoods and perplexity).</summary>
    public static void LogSoftmax(ReadOnlySpan<float> x, Span<float> y, int cols)
    {
        var rows = CheckRows(x.Length, y.Length, cols);
        Span<float> e = stackalloc float[Chunk];
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            var max = TensorPrimitives.Max(xr);
            double sum = 0;
            for (var i = 0; i < cols; i += Chunk)
            {
                var len = Math.Min(Chunk, cols - i);
                var s = e[..len];
                TensorPrimitives.Subtract(xr.Slice(i, len), max, s);
                TensorPrimitives.Exp(s, s);
                sum += Reductions.SumF64(s);
            }
            TensorPrimitives.Subtract(xr, (float)(max + Math.Log(sum)), yr);
        }
    }

    private static int CheckRows(int xLength, int yLength, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cols, 1);
        if (xLength % cols != 0) throw new ArgumentException($"{xLength} values are not whole rows of {cols}");
        if (yLength < xLength) throw new ArgumentException("output is shorter than the input");
        return xLength / cols;
    }
}
