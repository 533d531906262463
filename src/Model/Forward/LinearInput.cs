namespace Offload.Model.Forward;

/// <summary>
/// The four inputs the linears of a Llama decoder layer read: the normed hidden state read by q/k/v
/// (<see cref="Attention"/>), the attention output read by o_proj, the normed hidden state read by gate/up
/// (<see cref="Mlp"/>) and SiLU(gate)·up read by down_proj.
/// </summary>
public enum LinearInput
{
    Attention,
    AttentionOutput,
    Mlp,
    MlpDown,
}
