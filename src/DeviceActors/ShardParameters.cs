using Offload.Tensors;
using Offload.Tensors.Storage;

namespace Offload.DeviceActors;

/// <summary>
/// The parameters a shard owns, by Hugging Face name, in their off-device tier (<see cref="ParameterTier"/>). Shared by
/// the shard's replicas on every device; thread-safe. Owns its tensors.
/// </summary>
public sealed class ShardParameters : IDisposable
{
    private readonly object _gate = new();
    private readonly List<string> _names = new();
    private readonly Dictionary<string, Slot> _slots = new(StringComparer.Ordinal);
    private long _version;

    /// <param name="owner">the shard's name (e.g. "layer-3").</param>
    /// <param name="tensors">the parameters, taken over (mapped views or host tensors).</param>
    public ShardParameters(string owner, IEnumerable<(string Name, Tensor Tensor)> tensors)
    {
        Owner = owner;
        foreach (var (name, t) in tensors)
        {
            if (_slots.ContainsKey(name)) throw new ArgumentException($"{owner}: parameter '{name}' given twice");
            _names.Add(name);
            _slots[name] = new Slot(t, t.Storage.Kind == StorageKind.Mapped ? ParameterTier.Mapped : ParameterTier.Host);
        }
    }

    public string Owner { get; }

    public IReadOnlyList<string> Names => _names;

    /// <summary>Incremented by every replacement (device copies of an older version are stale).</summary>
    public long Version { get { lock (_gate) return _version; } }

    /// <summary>Total bytes of the parameters in their stored dtypes.</summary>
    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                long sum = 0;
                foreach (var s in _slots.Values) sum += s.Tensor.ByteLength;
                return sum;
            }
        }
    }

    public bool Contains(string name) => _slots.ContainsKey(name);

    public ParameterTier TierOf(string name)
    {
        lock (_gate) return SlotOf(name).Tier;
    }

    /// <summary>Another reference to parameter <paramref name="name"/> (caller disposes; read-only when mapped).</summary>
    public Tensor Get(string name)
    {
        lock (_gate) return SlotOf(name).Tensor.Share();
    }

    /// <summary>References to every parameter in order (caller disposes them), e.g. as onload sources.</summary>
    public List<(string Name, Tensor Tensor)> Snapshot()
    {
        lock (_gate)
        {
            var list = new List<(string, Tensor)>(_names.Count);
            foreach (var n in _names) list.Add((n, _slots[n].Tensor.Share()));
            return list;
        }
    }

    /// <summary>Replaces <paramref name="name"/> with <paramref name="value"/> (same shape; taken over) in the host tier.</summary>
    public void Replace(string name, Tensor value)
    {
        lock (_gate)
        {
            var slot = SlotOf(name);
            if (!slot.Tensor.Shape.SequenceEqual(value.Shape))
                throw new ArgumentException($"{Owner}: replacement for '{name}' has shape [{string.Join(", ", value.Shape.ToArray())}], expected [{string.Join(", ", slot.Tensor.Shape.ToArray())}]");
            slot.Tensor.Dispose();
            _slots[name] = new Slot(value, ParameterTier.Host);
            _version++;
        }
    }

    /// <summary>Copies a mapped parameter into host memory (Mapped → Host); nothing when it is already there.</summary>
    public void StageToHost(string name)
    {
        lock (_gate)
        {
            var slot = SlotOf(name);
            if (slot.Tier == ParameterTier.Host) return;
            var copy = slot.Tensor.Clone();
            slot.Tensor.Dispose();
            _slots[name] = new Slot(copy, ParameterTier.Host);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var s in _slots.Values) s.Tensor.Dispose();
            _slots.Clear();
        }
    }

    private Slot SlotOf(string name) =>
        _slots.TryGetValue(name, out var s) ? s : throw new KeyNotFoundException($"{Owner}: no parameter '{name}'");

    private sealed record Slot(Tensor Tensor, ParameterTier Tier);
}
