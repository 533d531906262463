using Offload.Tensors;

namespace Offload.Compression.Fusion;

/// <summary>
/// One adapted linear: <see cref="Module"/> is the Hugging Face module name (e.g. model.layers.0.self_attn.q_proj).
/// A: [r, in], B: [out, r] in their stored dtype; the adapter owns them.
/// </summary>
public sealed record LoraModule(string Module, Tensor A, Tensor B)
{
    public int Rank => checked((int)A.Dim(0));
    public int In => checked((int)A.Dim(1));
    public int Out => checked((int)B.Dim(0));
}
