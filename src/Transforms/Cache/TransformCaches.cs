using Offload.Protocol;

namespace Offload.Transforms.Cache;

/// <summary>One <see cref="TransformCache"/> per device, for processes that run without DeviceActors (tests, the CLI).</summary>
public sealed class TransformCaches : IDisposable
{
    private readonly Dictionary<DeviceId, TransformCache> _caches = new();
    private readonly object _gate = new();

    /// <summary>The cache of <paramref name="device"/>, created on first use.</summary>
    public TransformCache For(DeviceId device)
    {
        lock (_gate)
        {
            if (!_caches.TryGetValue(device, out var cache)) _caches.Add(device, cache = new TransformCache(device));
            return cache;
        }
    }

    /// <summary>The devices that have a cache.</summary>
    public IReadOnlyList<DeviceId> Devices
    {
        get
        {
            lock (_gate) return _caches.Keys.ToArray();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var c in _caches.Values) c.Dispose();
            _caches.Clear();
        }
    }
}
