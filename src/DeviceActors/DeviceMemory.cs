using Offload.Protocol;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// The exact byte ledger of one device: every block (a tensor copy or a reservation) with its size, pin count and
/// last use. Reserving makes room by evicting least-recently-used unpinned blocks; pinned blocks are never evicted.
/// Resident bytes never exceed the budget, and the high-water mark is kept. Thread-safe (one lock); the
/// <see cref="DeviceActor"/> drives it, the transform cache reserves through it directly.
/// </summary>
public sealed class DeviceMemory
{
    private readonly object _gate = new();
    private readonly Dictionary<BlockKey, Block> _blocks = new();
    private long _clock;
    private long _resident;
    private long _peak;
    private long _evictions;
    private long _evictedBytes;

    public DeviceMemory(DeviceId device, long budgetBytes)
    {
        if (budgetBytes <= 0) throw new ArgumentOutOfRangeException(nameof(budgetBytes), "budget must be positive");
        Device = device;
        BudgetBytes = budgetBytes;
    }

    public DeviceId Device { get; }
    public long BudgetBytes { get; }

    public long ResidentBytes { get { lock (_gate) return _resident; } }
    public long PeakBytes { get { lock (_gate) return _peak; } }
    public long Evictions { get { lock (_gate) return _evictions; } }
    public long EvictedBytes { get { lock (_gate) return _evictedBytes; } }

    /// <summary>Bytes in pinned blocks (cannot be evicted now).</summary>
    public long PinnedBytes
    {
        get
        {
            lock (_gate)
            {
                long sum = 0;
                foreach (var b in _blocks.Values) if (b.Pins > 0) sum += b.Bytes;
                return sum;
            }
        }
    }

    /// <summary>The number of blocks resident now.</summary>
    public int BlockCount { get { lock (_gate) return _blocks.Count; } }

    public bool Contains(BlockKey key) { lock (_gate) return _blocks.ContainsKey(key); }

    /// <summary>True when the block is resident and its copy has arrived.</summary>
    public bool IsReady(BlockKey key) { lock (_gate) return _blocks.TryGetValue(key, out var b) && b.Ready; }

    /// <summary>
    /// True when <paramref name="bytes"/> more could be made resident by evicting unpinned blocks that are not in
    /// <paramref name="keep"/>.
    /// </summary>
    public bool CanFit(long bytes, IReadOnlySet<BlockKey>? keep = null)
    {
        lock (_gate) return _resident - EvictableLocked(keep) + bytes <= BudgetBytes;
    }

    /// <summary>
    /// Pins every key of <paramref name="existing"/> (resident blocks) and adds <paramref name="added"/> as new pinned,
    /// not-yet-ready blocks, evicting LRU unpinned blocks (never one of these) as needed. All or nothing: returns false
    /// and changes nothing when the new bytes cannot be made to fit.
    /// </summary>
    public bool TryPinAndReserve(IReadOnlyList<BlockKey> existing, IReadOnlyList<(BlockKey Key, long Bytes)> added)
    {
        lock (_gate)
        {
            var keep = new HashSet<BlockKey>(existing);
            foreach (var (k, _) in added) keep.Add(k);
            long need = 0;
            foreach (var (k, bytes) in added)
            {
                if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(added), "negative block size");
                if (_blocks.ContainsKey(k)) throw new InvalidOperationException($"{Device}: block {k} is already resident");
                need += bytes;
            }
            foreach (var k in existing)
                if (!_blocks.ContainsKey(k)) throw new InvalidOperationException($"{Device}: block {k} is not resident");
            if (_resident - EvictableLocked(keep) + need > BudgetBytes) return false;
            while (_resident + need > BudgetBytes) EvictOneLocked(keep);
            var now = ++_clock;
            foreach (var k in existing)
            {
                var b = _blocks[k];
                b.Pins++;
                b.LastUse = now;
            }
            foreach (var (k, bytes) in added)
            {
                _blocks[k] = new Block(k, bytes) { Pins = 1, LastUse = now };
                _resident += bytes;
            }
            if (_resident > _peak) _peak = _resident;
            return true;
        }
    }

    /// <summary>Stores the arrived copy of a reserved block and marks it ready; the ledger owns the tensor.</summary>
    public void Complete(BlockKey key, Tensor copy)
    {
        lock (_gate)
        {
            if (!_blocks.TryGetValue(key, out var b) || b.Ready)
            {
                copy.Dispose();
                throw new InvalidOperationException($"{Device}: block {key} was not waiting for a copy");
            }
            if (copy.ByteLength != b.Bytes)
            {
                copy.Dispose();
                throw new InvalidOperationException($"{Device}: block {key} reserved {b.Bytes} bytes but the copy has {copy.ByteLength}");
            }
            b.Tensor = copy;
            b.Ready = true;
        }
    }

    /// <summary>Marks a reservation without a tensor (workspace) ready.</summary>
    public void CompleteReservation(BlockKey key)
    {
        lock (_gate)
        {
            if (!_blocks.TryGetValue(key, out var b)) throw new InvalidOperationException($"{Device}: block {key} is not resident");
            b.Ready = true;
        }
    }

    /// <summary>Another reference to a ready block's tensor (the caller disposes it).</summary>
    public Tensor Share(BlockKey key)
    {
        lock (_gate)
        {
            if (!_blocks.TryGetValue(key, out var b) || !b.Ready || b.Tensor is null)
                throw new InvalidOperationException($"{Device}: block {key} holds no ready tensor");
            return b.Tensor.Share();
        }
    }

    /// <summary>Drops one pin; the block stays resident (cached) until evicted or removed.</summary>
    public void Unpin(BlockKey key)
    {
        lock (_gate)
        {
            if (!_blocks.TryGetValue(key, out var b) || b.Pins == 0) throw new InvalidOperationException($"{Device}: block {key} is not pinned");
            b.Pins--;
            b.LastUse = ++_clock;
        }
    }

    /// <summary>Removes a block now (pinned or not) and frees its bytes; false when it was not resident.</summary>
    public bool Remove(BlockKey key)
    {
        lock (_gate)
        {
            if (!_blocks.Remove(key, out var b)) return false;
            _resident -= b.Bytes;
            b.Tensor?.Dispose();
            return true;
        }
    }

    /// <summary>Removes every unpinned block of <paramref name="owner"/>; returns the bytes freed.</summary>
    public long RemoveUnpinned(string owner)
    {
        lock (_gate)
        {
            long freed = 0;
            foreach (var b in _blocks.Values.Where(b => b.Key.Owner == owner && b.Pins == 0).ToList())
            {
                _blocks.Remove(b.Key);
                _resident -= b.Bytes;
                freed += b.Bytes;
                b.Tensor?.Dispose();
            }
            return freed;
        }
    }

    /// <summary>Keys of the resident blocks, least recently used first (for tests and diagnostics).</summary>
    public IReadOnlyList<BlockKey> LruOrder()
    {
        lock (_gate) return _blocks.Values.OrderBy(b => b.LastUse).Select(b => b.Key).ToArray();
    }

    /// <summary>Frees every block (device shutdown).</summary>
    public void Clear()
    {
        lock (_gate)
        {
            foreach (var b in _blocks.Values) b.Tensor?.Dispose();
            _blocks.Clear();
            _resident = 0;
        }
    }

    private long EvictableLocked(IReadOnlySet<BlockKey>? keep)
    {
        long sum = 0;
        foreach (var b in _blocks.Values)
            if (b.Pins == 0 && b.Ready && (keep is null || !keep.Contains(b.Key))) sum += b.Bytes;
        return sum;
    }

    private void EvictOneLocked(IReadOnlySet<BlockKey> keep)
    {
        Block? victim = null;
        foreach (var b in _blocks.Values)
        {
            if (b.Pins > 0 || !b.Ready || keep.Contains(b.Key)) continue;
            if (victim is null || b.LastUse < victim.LastUse) victim = b;
        }
        if (victim is null) throw new InvalidOperationException($"{Device}: nothing left to evict");
        _blocks.Remove(victim.Key);
        _resident -= victim.Bytes;
        _evictions++;
        _evictedBytes += victim.Bytes;
        victim.Tensor?.Dispose();
    }

    private sealed class Block(BlockKey key, long bytes)
    {
        public BlockKey Key { get; } = key;
        public long Bytes { get; } = bytes;
        public int Pins { get; set; }
        public long LastUse { get; set; }
        public bool Ready { get; set; }
        public Tensor? Tensor { get; set; }
    }
}
