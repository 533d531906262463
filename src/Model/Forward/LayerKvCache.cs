namespace Offload.Model.Forward;

/// <summary>
/// The keys and values one decoder layer has seen, per batch row: [batch, capacity, kv_heads·head_dim] f32 each,
/// keys already rotated. Grows by doubling.
/// </summary>
public sealed class LayerKvCache(int batch, int kvDim)
{
    private float[] _keys = [];
    private float[] _values = [];

    public int Batch { get; } = batch;
    public int KvDim { get; } = kvDim;

    /// <summary>Positions stored so far.</summary>
    public int Length { get; private set; }

    /// <summary>Positions each batch row has room for (the row stride of <see cref="Keys"/> is Capacity · KvDim).</summary>
    public int Capacity { get; private set; }

    /// <summary>[batch, capacity, kv_dim]; positions [0, Length) are valid.</summary>
    internal float[] Keys => _keys;

    /// <summary>[batch, capacity, kv_dim]; positions [0, Length) are valid.</summary>
    internal float[] Values => _values;

    /// <summary>Appends <paramref name="seq"/> positions per batch row. k, v: [batch·seq, kv_dim] f32.</summary>
    internal void Append(ReadOnlySpan<float> k, ReadOnlySpan<float> v, int seq)
    {
        if (k.Length != Batch * seq * KvDim || v.Length != k.Length) throw new ArgumentException($"keys/values do not hold {Batch}×{seq} rows of {KvDim}");
        Reserve(Length + seq);
        for (var b = 0; b < Batch; b++)
        {
            var dst = (b * Capacity + Length) * KvDim;
            k.Slice(b * seq * KvDim, seq * KvDim).CopyTo(_keys.AsSpan(dst));
            v.Slice(b * seq * KvDim, seq * KvDim).CopyTo(_values.AsSpan(dst));
        }
        Length += seq;
    }

    private void Reserve(int positions)
    {
        if (positions <= Capacity) return;
        var cap = Math.Max(positions, Math.Max(16, Capacity * 2));
        var keys = new float[checked(Batch * cap * KvDim)];
        var values = new float[keys.Length];
        for (var b = 0; b < Batch; b++)
        {
            _keys.AsSpan(b * Capacity * KvDim, Length * KvDim).CopyTo(keys.AsSpan(b * cap * KvDim));
            _values.AsSpan(b * Capacity * KvDim, Length * KvDim).CopyTo(values.AsSpan(b * cap * KvDim));
        }
        _keys = keys;
        _values = values;
        Capacity = cap;
    }
}
