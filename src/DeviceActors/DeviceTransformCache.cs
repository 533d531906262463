using Offload.Compression.Sequential;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// The per-device home of shared transform weights: one tensor per (kind, size, dtype, device, seed), reference
/// counted, its bytes pinned in the device's ledger while any user holds it and freed with the last user.
/// Thread-safe.
/// </summary>
public sealed class DeviceTransformCache : ISharedTransformCache
{
    private const string Owner = "#transforms";
    private readonly DeviceId _device;
    private readonly DeviceMemory _memory;
    private readonly string _deviceName;
    private readonly object _gate = new();
    private readonly Dictionary<TransformCacheKey, Entry> _entries = new();

    public DeviceTransformCache(DeviceId device, DeviceMemory memory)
    {
        _device = device;
        _deviceName = device.ToString();
        _memory = memory;
    }

    public DeviceId Device => _device;

    public long ResidentBytes
    {
        get
        {
            lock (_gate) return _entries.Values.Sum(e => e.Tensor.ByteLength);
        }
    }

    /// <summary>Reference count of <paramref name="key"/> (0 when absent).</summary>
    public int RefCount(TransformCacheKey key)
    {
        lock (_gate) return _entries.TryGetValue(key, out var e) ? e.Refs : 0;
    }

    public Tensor Acquire(TransformCacheKey key, Func<Tensor> create)
    {
        if (key.Device != _device) throw new ArgumentException($"transform key for {key.Device} asked of the cache of {_device}");
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var e))
            {
                e.Refs++;
                OffloadTelemetry.TransformCacheHitsCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrDevice, _deviceName));
                return e.Tensor;
            }
            OffloadTelemetry.TransformCacheMissesCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrDevice, _deviceName));
            var made = create();
            var copy = made.Device == _device && made.Storage.IsWritable ? made : made.To(_device);
            if (!ReferenceEquals(copy, made)) made.Dispose();
            var block = new BlockKey(Owner, key.ToString());
            if (!_memory.TryPinAndReserve([], [(block, copy.ByteLength)]))
            {
                var available = _memory.BudgetBytes - _memory.PinnedBytes;
                copy.Dispose();
                throw new DeviceMemoryException(_device, $"transform {key.Kind} {key.Size}", copy.ByteLength, available);
            }
            _memory.CompleteReservation(block);
            _entries[key] = new Entry(copy, block) { Refs = 1 };
            return copy;
        }
    }

    public void Release(TransformCacheKey key)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(key, out var e)) throw new InvalidOperationException($"{_device}: transform {key} is not held");
            if (--e.Refs > 0) return;
            _entries.Remove(key);
            _memory.Remove(e.Block);
            e.Tensor.Dispose();
        }
    }

    private sealed class Entry(Tensor tensor, BlockKey block)
    {
        public Tensor Tensor { get; } = tensor;
        public BlockKey Block { get; } = block;
        public int Refs { get; set; }
    }
}
