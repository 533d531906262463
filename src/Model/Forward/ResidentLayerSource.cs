namespace Offload.Model.Forward;

/// <summary>All layers held in memory; Acquire/Release do nothing. Owns and disposes the layers.</summary>
public sealed class ResidentLayerSource(IReadOnlyList<DecoderLayer> layers) : ILayerSource, IDisposable
{
    public int Count => layers.Count;

    public IReadOnlyList<DecoderLayer> Layers => layers;

    public IDecoderLayer Acquire(int index) => layers[index];

    public void Release(IDecoderLayer layer) { }

    public void Dispose()
    {
        foreach (var l in layers) l.Dispose();
    }
}
