namespace Offload.Transforms;

/// <summary>The module families a transform can attach to (decides the size rule and the fusion formula).</summary>
public enum TransformModuleKind
{
    /// <summary>A Linear layer: weight [out, in], y = x·Wᵀ + b.</summary>
    Linear,

    /// <summary>An Embedding: weight [num_embeddings, dim], y = onehot(idx)·E.</summary>
    Embedding,

    /// <summary>An attention block (q_attn / k_cache): the size must come from head_dim.</summary>
    Attention,

    /// <summary>Anything else (online locations only, with head_dim).</summary>
    Other,
}
