namespace Offload.Transforms.Cache;

/// <summary>One reference to a cached transform; disposing it releases the reference (once).</summary>
public sealed class TransformLease : IDisposable
{
    private readonly TransformCache _cache;
    private int _released;

    internal TransformLease(TransformCache cache, TransformCacheEntry entry)
    {
        _cache = cache;
        Entry = entry;
    }

    /// <summary>The shared entry.</summary>
    public TransformCacheEntry Entry { get; }

    /// <summary>The cache (device) this lease belongs to.</summary>
    public TransformCache Cache => _cache;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _cache.Release(Entry);
    }
}
