namespace Offload.Model.Forward;

/// <summary>
/// Where the whole-model forward gets its decoder layers: it asks for layer i, runs it, and gives it back, so an
/// implementation may load each layer on demand (memory-mapped views, offloaded layer shards) and free it after.
/// </summary>
public interface ILayerSource
{
    /// <summary>Number of decoder layers.</summary>
    int Count { get; }

    /// <summary>Makes layer <paramref name="index"/> runnable (onload) and returns it; pair with <see cref="Release"/>.</summary>
    IDecoderLayer Acquire(int index);

    /// <summary>Gives back a layer from <see cref="Acquire"/> (offload); the caller no longer uses it.</summary>
    void Release(IDecoderLayer layer);
}
