using Offload.Protocol;
using Offload.Tensors;
using Offload.Transforms.Apply;

namespace Offload.Transforms.Cache;

/// <summary>
/// One cached transform on one device: its operator (the host-side recipe) and, made on first use, the dense matrix in
/// the key's dtype on the key's device — ±1 (unnormalised) for the Hadamard types, R for random matrices — and, for
/// random matrices, the inverse (computed once in f64, cast to the dtype). Owned by its <see cref="TransformCache"/>;
/// freed when the last <see cref="TransformLease"/> is released.
/// </summary>
public sealed class TransformCacheEntry
{
    private readonly object _gate = new();
    private Tensor? _matrix;  // (n, n) in Key.DType on Key.Device
    private Tensor? _inverse; // (n, n) in Key.DType on Key.Device

    internal TransformCacheEntry(TransformKey key, TransformOperator op)
    {
        Key = key;
        Operator = op;
    }

    /// <summary>The key this entry is stored under.</summary>
    public TransformKey Key { get; }

    /// <summary>The matrix as an operator (structured for Hadamard types).</summary>
    public TransformOperator Operator { get; }

    /// <summary>How many leases hold this entry.</summary>
    public int RefCount { get; internal set; }

    /// <summary>True once <see cref="Matrix"/> has been materialised.</summary>
    public bool HasMatrix => Volatile.Read(ref _matrix) is not null;

    /// <summary>True once <see cref="InverseMatrix"/> has been materialised.</summary>
    public bool HasInverse => Volatile.Read(ref _inverse) is not null;

    /// <summary>The dense matrix M (unnormalised for Hadamard types): [n, n] in Key.DType on Key.Device, made once.</summary>
    public Tensor Matrix
    {
        get
        {
            if (Volatile.Read(ref _matrix) is { } m) return m;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(Released, this);
                return _matrix ??= Materialize(Operator.ToDense());
            }
        }
    }

    /// <summary>M⁻¹ for random matrices: [n, n] in Key.DType on Key.Device, from the f64 inverse, made once.</summary>
    public Tensor InverseMatrix
    {
        get
        {
            if (Volatile.Read(ref _inverse) is { } m) return m;
            if (Operator is not DenseOperator dense) throw new InvalidOperationException($"{Key}: Hadamard transforms invert by transposition; there is no separate inverse matrix");
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(Released, this);
                return _inverse ??= Materialize(dense.Inverse.Matrix.ToArray());
            }
        }
    }

    /// <summary>Bytes of the dense tensors this entry holds on its device.</summary>
    public long DeviceBytes => (Volatile.Read(ref _matrix)?.ByteLength ?? 0) + (Volatile.Read(ref _inverse)?.ByteLength ?? 0);

    internal bool Released { get; private set; }

    internal void Release()
    {
        lock (_gate)
        {
            Released = true;
            _matrix?.Dispose();
            _inverse?.Dispose();
            _matrix = null;
            _inverse = null;
        }
    }

    private Tensor Materialize(double[] values)
    {
        var n = Key.Size;
        var t = Tensor.Zeros(Key.DType, Key.Device, n, n);
        try
        {
            FloatRounding.Write(values, t);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }
}
