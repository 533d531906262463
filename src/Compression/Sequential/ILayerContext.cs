using Offload.Tensors;

namespace Offload.Compression.Sequential;

/// <summary>
/// What a modifier sees of one decoder layer during a sequential job (the seam of DESIGN.md §2): its parameters by
/// Hugging Face name, the calibration inputs that entered it, and its device's shared transform cache. No actor,
/// device or tier appears here; the runtime's LayerShard implements it, so the same modifier code runs wherever the
/// layer lives. Valid only inside the listener call that received it.
/// </summary>
public interface ILayerContext
{
    /// <summary>The decoder layer's index (0-based).</summary>
    int LayerIndex { get; }

    /// <summary>Every parameter of the layer by Hugging Face name (e.g. "model.layers.3.mlp.down_proj.weight").</summary>
    IReadOnlyList<string> ParameterNames { get; }

    /// <summary>
    /// A read-only reference to parameter <paramref name="name"/> in its stored dtype (a linear weight is [out, in]);
    /// the caller disposes it. It may be a view of the memory-mapped checkpoint: never write through it.
    /// </summary>
    Tensor GetParameter(string name);

    /// <summary>
    /// Replaces parameter <paramref name="name"/> (same shape; any float dtype the forward reads) and takes ownership of
    /// <paramref name="value"/>. The layer's outputs are recomputed with the new parameters before the next layer runs
    /// (error propagation), and any device copy of the old value is dropped.
    /// </summary>
    void ReplaceParameter(string name, Tensor value);

    /// <summary>Number of calibration batches that passed through the layer.</summary>
    int BatchCount { get; }

    /// <summary>The layer's input for batch <paramref name="batch"/>: [batch, seq, hidden] f32 (caller disposes the reference).</summary>
    Tensor GetInput(int batch);

    /// <summary>The shared transform weights of the device this layer works on.</summary>
    ISharedTransformCache Transforms { get; }
}
