using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>
/// Driver → layer entity "job/&lt;job&gt;/layer/&lt;l&gt;": run one layer's sequential epoch on these inputs (one per
/// batch, in batch order): forward every batch, call the recipe's modifiers' SEQUENTIAL_EPOCH_END, re-run the layer if a
/// parameter was replaced, and serve the outputs (and replaced parameters) on this node's data plane.
/// </summary>
/// <param name="Spec">The job.</param>
/// <param name="Layer">The layer index.</param>
/// <param name="Attempt">Increases when the driver redoes the layer (a node died meanwhile).</param>
/// <param name="Inputs">One input per batch, in batch order: [rows, seq, hidden] f32.</param>
[MessagePackObject]
public sealed record RunLayer(
    [property: Key(0)] JobSpec Spec,
    [property: Key(1)] int Layer,
    [property: Key(2)] int Attempt,
    [property: Key(3)] IReadOnlyList<TensorRef> Inputs) : IOffloadMessage;
