using Offload.Protocol;

namespace Offload.Compression.Checkpoint;

/// <summary>
/// The tensors of one decoder layer (<see cref="Layer"/> ≥ 0, <see cref="Name"/> "model.layers.N") or of one module
/// outside the layers (<see cref="Layer"/> −1, e.g. "model.embed_tokens", "lm_head"): counts, elements and bytes as
/// stored, and the tensor count per stored dtype.
/// </summary>
public sealed record TensorGroupSummary(string Name, int Layer, int Tensors, long Elements, long Bytes, IReadOnlyList<(DType DType, int Count)> DTypes);
