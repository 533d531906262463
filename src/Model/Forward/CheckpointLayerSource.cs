using Offload.Model.Config;
using Offload.Model.SafeTensors;

namespace Offload.Model.Forward;

/// <summary>
/// Decoder layers made on demand from a checkpoint's zero-copy mapped views: Acquire builds layer i over the mapping,
/// Release drops the views. Nothing stays in process memory between uses beyond the OS page cache.
/// </summary>
public sealed class CheckpointLayerSource(LlamaConfig config, SafetensorsCheckpoint checkpoint, RotaryEmbedding rope) : ILayerSource
{
    public int Count => config.NumHiddenLayers;

    public IDecoderLayer Acquire(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), $"layer {index} outside [0, {Count})");
        var weights = DecoderLayerWeights.From(config, index, name => checkpoint.Contains(name) ? checkpoint.Get(name) : null, checkpoint.Directory);
        return new DecoderLayer(config, index, weights, rope);
    }

    public void Release(IDecoderLayer layer) => (layer as IDisposable)?.Dispose();
}
