namespace Offload.Transforms.Hadamard;

/// <summary>
/// An immutable square matrix with entries ±1, stored row-major as sbytes: the form in which Hadamard bases are
/// built, checked and handed to the fast application path. k = <see cref="Order"/>.
/// </summary>
public sealed class SignMatrix
{
    private readonly sbyte[] _data; // (k, k) row-major, every entry −1 or +1

    /// <summary>Takes ownership of <paramref name="data"/> ([order, order] row-major, entries ±1).</summary>
    public SignMatrix(int order, sbyte[] data)
    {
        if (order <= 0) throw new ArgumentOutOfRangeException(nameof(order), order, "order must be positive");
        if (data.Length != (long)order * order) throw new ArgumentException($"{data.Length} entries do not fill a {order}×{order} matrix", nameof(data));
        foreach (var v in data)
            if (v is not (1 or -1)) throw new ArgumentException($"entry {v} is not ±1", nameof(data));
        Order = order;
        _data = data;
    }

    /// <summary>k, the number of rows and columns.</summary>
    public int Order { get; }

    /// <summary>Entry (i, j).</summary>
    public sbyte this[int i, int j] => _data[i * Order + j];

    /// <summary>The entries, row-major: [k, k].</summary>
    public ReadOnlySpan<sbyte> Entries => _data;

    /// <summary>Row i: [k].</summary>
    public ReadOnlySpan<sbyte> Row(int i) => _data.AsSpan(i * Order, Order);

    /// <summary>Kᵀ as a new matrix.</summary>
    public SignMatrix Transpose()
    {
        var k = Order;
        var t = new sbyte[_data.Length];
        for (var i = 0; i < k; i++)
            for (var j = 0; j < k; j++)
                t[j * k + i] = _data[i * k + j];
        return new SignMatrix(k, t);
    }

    /// <summary>True when K·Kᵀ = k·I exactly (integer arithmetic, k³ operations).</summary>
    public bool IsHadamard()
    {
        var k = Order;
        for (var i = 0; i < k; i++)
        {
            var ri = Row(i);
            for (var j = i; j < k; j++)
            {
                var rj = Row(j);
                var dot = 0;
                for (var p = 0; p < k; p++) dot += ri[p] * rj[p];
                if (dot != (i == j ? k : 0)) return false;
            }
        }
        return true;
    }

    /// <summary>True when the matrix equals its transpose.</summary>
    public bool IsSymmetric()
    {
        var k = Order;
        for (var i = 0; i < k; i++)
            for (var j = i + 1; j < k; j++)
                if (_data[i * k + j] != _data[j * k + i]) return false;
        return true;
    }

    /// <summary>The entries as f64: [k, k] row-major.</summary>
    public double[] ToDoubles()
    {
        var result = new double[_data.Length];
        for (var i = 0; i < result.Length; i++) result[i] = _data[i];
        return result;
    }

    /// <summary>Entry-wise equality.</summary>
    public bool SameEntries(SignMatrix other) => Order == other.Order && _data.AsSpan().SequenceEqual(other._data);
}
