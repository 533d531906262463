using Offload.Model.Config;

namespace Offload.Model.Forward;

/// <summary>One <see cref="LayerKvCache"/> per decoder layer, for incremental decoding.</summary>
public sealed class KvCache
{
    private readonly LayerKvCache[] _layers;

    public KvCache(LlamaConfig config, int batch)
    {
        _layers = new LayerKvCache[config.NumHiddenLayers];
        for (var i = 0; i < _layers.Length; i++) _layers[i] = new LayerKvCache(batch, config.KvDim);
    }

    public int Batch => _layers.Length == 0 ? 0 : _layers[0].Batch;

    /// <summary>Positions already processed (the position of the next token).</summary>
    public int Length => _layers.Length == 0 ? 0 : _layers[0].Length;

    public LayerKvCache Layer(int index) => _layers[index];
}
