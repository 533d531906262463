using System.Numerics;

namespace Offload.Transforms.Apply;

// Legend: n = Size (the block size), rows = independent row vectors, cols = columns of an [n, cols] block.

/// <summary>
/// One transform matrix M of size n as an operator on host memory, in the two orientations every location needs:
/// <list type="bullet">
/// <item><see cref="MultiplyRows(Span{double}, bool)"/>: each length-n row x ← x·op, data [rows, n];</item>
/// <item><see cref="MultiplyColumns(Span{double}, int, bool)"/>: X ← opᵀ·X for a block X [n, cols], i.e. every column
/// treated as a row vector and multiplied by op;</item>
/// </list>
/// with op = M or, when <c>transpose</c> is set, Mᵀ. M is unnormalised for the Hadamard types (entries ±1); divide the
/// result by <see cref="Divisor"/> (√n there, 1 for explicit matrices) to get the orthonormal transform.
/// </summary>
public abstract class TransformOperator
{
    protected TransformOperator(int size)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), size, "transform size must be positive");
        Size = size;
    }

    /// <summary>n, the block size.</summary>
    public int Size { get; }

    /// <summary>What the product is divided by at application: √n for Hadamard types (G1: n is the block size), else 1.</summary>
    public abstract double Divisor { get; }

    /// <summary>Bytes this operator holds on the host (structure, not the dense copies a cache may add).</summary>
    public abstract long HostBytes { get; }

    /// <summary>x ← x·M (or x·Mᵀ) for every row. data: [rows, n] f64.</summary>
    public void MultiplyRows(Span<double> data, bool transpose)
    {
        CheckRows(data.Length);
        MultiplyRowsCore(data, transpose);
    }

    /// <summary>x ← x·M (or x·Mᵀ) for every row. data: [rows, n] f32.</summary>
    public void MultiplyRows(Span<float> data, bool transpose)
    {
        CheckRows(data.Length);
        MultiplyRowsCore(data, transpose);
    }

    /// <summary>X ← Mᵀ·X (or M·X when <paramref name="transpose"/>). data: [n, cols] f64.</summary>
    public void MultiplyColumns(Span<double> data, int cols, bool transpose)
    {
        CheckColumns(data.Length, cols);
        MultiplyColumnsCore(data, cols, transpose);
    }

    /// <summary>X ← Mᵀ·X (or M·X when <paramref name="transpose"/>). data: [n, cols] f32.</summary>
    public void MultiplyColumns(Span<float> data, int cols, bool transpose)
    {
        CheckColumns(data.Length, cols);
        MultiplyColumnsCore(data, cols, transpose);
    }

    /// <summary>The unnormalised matrix M, written row-major into dest: [n, n] f64.</summary>
    public abstract void ToDense(Span<double> dest);

    /// <summary>M as a new [n, n] f64 array.</summary>
    public double[] ToDense()
    {
        var result = new double[(long)Size * Size];
        ToDense(result);
        return result;
    }

    protected abstract void MultiplyRowsCore<T>(Span<T> data, bool transpose) where T : unmanaged, IFloatingPointIeee754<T>;

    protected abstract void MultiplyColumnsCore<T>(Span<T> data, int cols, bool transpose) where T : unmanaged, IFloatingPointIeee754<T>;

    private void CheckRows(int length)
    {
        if (length % Size != 0) throw new ArgumentException($"{length} elements are not whole rows of the transform size {Size}");
    }

    private void CheckColumns(int length, int cols)
    {
        if (cols < 0 || (long)Size * cols != length) throw new ArgumentException($"a [{Size}, {cols}] block needs {(long)Size * cols} elements, got {length}");
    }
}
