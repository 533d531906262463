using System.Runtime.InteropServices;

namespace Offload.Transforms.Apply;

/// <summary>
/// An explicit n×n matrix applied with GEMM (<see cref="Gemm"/>): the random-matrix transforms, and the dense path a
/// Hadamard transform takes where a cached matrix measures faster than the FWHT. The f64 master is kept; an f32 copy
/// is made once on first f32 use. <see cref="Inverse"/> is computed once, in f64 (Gauss–Jordan with partial pivoting).
/// </summary>
public sealed class DenseOperator : TransformOperator
{
    private readonly double[] _matrix; // (n, n) row-major
    private float[]? _matrixF;
    private readonly Lazy<DenseOperator> _inverse;

    /// <summary>Takes ownership of <paramref name="matrix"/>: [n, n] row-major f64.</summary>
    public DenseOperator(int n, double[] matrix, double divisor = 1.0) : base(n)
    {
        if (matrix.Length != (long)n * n) throw new ArgumentException($"{matrix.Length} values do not fill a {n}×{n} matrix", nameof(matrix));
        if (!(divisor > 0)) throw new ArgumentOutOfRangeException(nameof(divisor), divisor, "divisor must be positive");
        _matrix = matrix;
        Divisor = divisor;
        _inverse = new Lazy<DenseOperator>(() => new DenseOperator(n, MatrixInverse.Invert(_matrix, n)), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <inheritdoc/>
    public override double Divisor { get; }

    /// <summary>The matrix: [n, n] row-major f64.</summary>
    public ReadOnlySpan<double> Matrix => _matrix;

    /// <summary>M⁻¹ (with divisor 1), computed once in f64 on first use; throws when M is singular.</summary>
    public DenseOperator Inverse => _inverse.Value;

    /// <summary>True once <see cref="Inverse"/> has been computed.</summary>
    public bool HasInverse => _inverse.IsValueCreated;

    /// <inheritdoc/>
    public override long HostBytes => 8L * _matrix.Length + 4L * (_matrixF?.Length ?? 0) + (_inverse.IsValueCreated ? _inverse.Value.HostBytes : 0);

    /// <inheritdoc/>
    public override void ToDense(Span<double> dest) => _matrix.CopyTo(dest);

    protected override void MultiplyRowsCore<T>(Span<T> data, bool transpose)
    {
        if (typeof(T) == typeof(double)) DenseApply.Rows<double>(_matrix, Size, MemoryMarshal.Cast<T, double>(data), transpose);
        else DenseApply.Rows<float>(MatrixF(), Size, MemoryMarshal.Cast<T, float>(data), transpose);
    }

    protected override void MultiplyColumnsCore<T>(Span<T> data, int cols, bool transpose)
    {
        if (typeof(T) == typeof(double)) DenseApply.Columns<double>(_matrix, Size, MemoryMarshal.Cast<T, double>(data), cols, transpose);
        else DenseApply.Columns<float>(MatrixF(), Size, MemoryMarshal.Cast<T, float>(data), cols, transpose);
    }

    private float[] MatrixF()
    {
        if (_matrixF is { } f) return f;
        var copy = new float[_matrix.Length];
        for (var i = 0; i < copy.Length; i++) copy[i] = (float)_matrix[i];
        return _matrixF = copy;
    }
}
