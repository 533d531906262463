using Akka.Actor;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// Pinned device blocks handed to one user: the device copies by name (parameters) or a bare reservation (workspace).
/// Disposing it drops the tensor references and unpins the blocks; they stay cached on the device until evicted.
/// </summary>
public sealed class DeviceLease : IDisposable
{
    private readonly IActorRef _device;
    private readonly Dictionary<string, Tensor> _tensors;
    private int _disposed;

    internal DeviceLease(IActorRef device, DeviceId deviceId, string owner, IReadOnlyList<BlockKey> keys, Dictionary<string, Tensor> tensors, long bytes)
    {
        _device = device;
        Device = deviceId;
        Owner = owner;
        Keys = keys;
        _tensors = tensors;
        Bytes = bytes;
    }

    public DeviceId Device { get; }
    public string Owner { get; }
    public IReadOnlyList<BlockKey> Keys { get; }

    /// <summary>Bytes the lease pins on the device.</summary>
    public long Bytes { get; }

    public IEnumerable<string> Names => _tensors.Keys;

    /// <summary>The device copy of <paramref name="name"/> (owned by the lease: Share it to keep it past disposal).</summary>
    public Tensor this[string name] => _tensors.TryGetValue(name, out var t)
        ? t
        : throw new KeyNotFoundException($"{Device}: lease of '{Owner}' holds no tensor '{name}'");

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var t in _tensors.Values) t.Dispose();
        _device.Tell(new DeviceActor.Release(Keys));
    }
}
