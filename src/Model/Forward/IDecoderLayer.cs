using Offload.Tensors;

namespace Offload.Model.Forward;

/// <summary>One decoder layer as the whole-model forward sees it; resident, memory-mapped or offloaded behind.</summary>
public interface IDecoderLayer
{
    /// <summary>The layer's index in the model (0-based).</summary>
    int Index { get; }

    /// <summary>
    /// x: [batch, seq, hidden] f32 → [batch, seq, hidden] f32 (a new tensor; x is left unchanged). Positions start at
    /// <paramref name="cache"/>'s length (0 without a cache); with a cache the new keys/values are appended to it.
    /// </summary>
    Tensor Forward(Tensor x, LayerKvCache? cache = null);
}
