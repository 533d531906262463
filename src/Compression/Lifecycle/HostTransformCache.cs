using Offload.Compression.Sequential;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Compression.Lifecycle;

/// <summary>
/// An in-process <see cref="ISharedTransformCache"/> for one (virtual) device without a device actor: one tensor per
/// key, reference counted, freed with the last release. Thread-safe.
/// </summary>
public sealed class HostTransformCache(DeviceId device) : ISharedTransformCache
{
    private readonly Dictionary<TransformCacheKey, (Tensor Tensor, int Refs)> _entries = new();
    private readonly object _gate = new();

    public DeviceId Device { get; } = device;

    /// <summary>How many times a tensor was created (one per key while it stays held).</summary>
    public int Created { get; private set; }

    public long ResidentBytes
    {
        get { lock (_gate) return _entries.Values.Sum(e => e.Tensor.ByteLength); }
    }

    public Tensor Acquire(TransformCacheKey key, Func<Tensor> create)
    {
        if (key.Device != Device) throw new ArgumentException($"transform key for {key.Device} asked of the cache of {Device}");
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var e))
            {
                _entries[key] = (e.Tensor, e.Refs + 1);
                return e.Tensor;
            }
            var t = create();
            Created++;
            _entries[key] = (t, 1);
            return t;
        }
    }

    public void Release(TransformCacheKey key)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var e)) throw new InvalidOperationException($"{Device}: transform {key} is not held");
            if (e.Refs > 1) { _entries[key] = (e.Tensor, e.Refs - 1); return; }
            _entries.Remove(key);
            e.Tensor.Dispose();
        }
    }
}
