namespace Offload.Transforms.Config;

/// <summary>
/// Where a transform acts (compressed-tensors' TransformLocation; the wire names are in <see cref="TransformLocations"/>).
/// At every location the activation flowing through that point is right-multiplied by B = blockdiag(A).
/// </summary>
/// <remarks>
/// | location | online | transformed | where the inverse can be placed |
/// |---|---|---|---|
/// | Input | yes | the module's first input | prev WeightOutput, prev Output, this WeightInput |
/// | WeightInput | no | weight, input side | prev WeightOutput, prev Output, this Input |
/// | WeightOutput | no | weight (and bias), output side | this Output, next Input, next WeightInput |
/// | Output | yes | the module's output | this WeightOutput, next Input, next WeightInput |
/// | QAttn | yes | post-RoPE queries | KCache of the same attention |
/// | KCache | yes | post-RoPE keys, before the cache | QAttn of the same attention |
/// </remarks>
public enum TransformLocation
{
    /// <summary>"input": x ← x·B before the module runs.</summary>
    Input,

    /// <summary>"weight_input": Linear W ← W·Bᵀ; Embedding E ← B·E.</summary>
    WeightInput,

    /// <summary>"weight_output": Linear W ← Bᵀ·W, b ← Bᵀ·b; Embedding E ← E·B.</summary>
    WeightOutput,

    /// <summary>"output": y ← y·B after the module runs.</summary>
    Output,

    /// <summary>"q_attn": post-RoPE query states q ← q·A.</summary>
    QAttn,

    /// <summary>"k_cache": post-RoPE key states k ← k·A, before the KV-cache update.</summary>
    KCache,
}
