using Offload.Protocol;
using Offload.Transforms.Apply;

namespace Offload.Transforms.Cache;

/// <summary>
/// The transform matrices of one device: one entry per <see cref="TransformKey"/>, shared by reference by every module
/// on the device, reference-counted through <see cref="TransformLease"/>s and freed when the last lease goes. A
/// DeviceActor owns one; <see cref="TransformCaches"/> keeps one per device when there is no actor system.
/// </summary>
public sealed class TransformCache : IDisposable
{
    private readonly Dictionary<TransformKey, TransformCacheEntry> _entries = new();
    private readonly object _gate = new();
    private bool _disposed;

    public TransformCache(DeviceId device)
    {
        Device = device;
    }

    /// <summary>The device whose matrices this cache holds.</summary>
    public DeviceId Device { get; }

    /// <summary>Number of distinct matrices held.</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    /// <summary>Bytes of dense matrices (and inverses) held on the device.</summary>
    public long DeviceBytes
    {
        get
        {
            lock (_gate) return _entries.Values.Sum(e => e.DeviceBytes);
        }
    }

    /// <summary>A snapshot of the entries.</summary>
    public IReadOnlyList<TransformCacheEntry> Entries
    {
        get
        {
            lock (_gate) return _entries.Values.ToArray();
        }
    }

    /// <summary>
    /// A lease on the entry for <paramref name="key"/>, creating it with <paramref name="create"/> when this device has
    /// none. key.Device must be this cache's device.
    /// </summary>
    public TransformLease Acquire(TransformKey key, Func<TransformOperator> create)
    {
        if (key.Device != Device) throw new ArgumentException($"key for {key.Device} asked of the {Device} cache", nameof(key));
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_entries.TryGetValue(key, out var entry))
            {
                var op = create();
                if (op.Size != key.Size) throw new InvalidOperationException($"operator of size {op.Size} created for {key}");
                entry = new TransformCacheEntry(key, op);
                _entries.Add(key, entry);
            }
            entry.RefCount++;
            return new TransformLease(this, entry);
        }
    }

    /// <summary>True when this device holds <paramref name="key"/>.</summary>
    public bool Contains(TransformKey key)
    {
        lock (_gate) return _entries.ContainsKey(key);
    }

    internal void Release(TransformCacheEntry entry)
    {
        lock (_gate)
        {
            entry.RefCount--;
            if (entry.RefCount > 0) return;
            if (_entries.TryGetValue(entry.Key, out var current) && ReferenceEquals(current, entry)) _entries.Remove(entry.Key);
            entry.Release();
        }
    }

    /// <summary>Frees every entry, leased or not.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var e in _entries.Values) e.Release();
            _entries.Clear();
        }
    }
}
