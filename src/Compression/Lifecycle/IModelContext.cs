using Offload.Tensors;

namespace Offload.Compression.Lifecycle;

/// <summary>
/// What a modifier sees of the parts outside the decoder layers (embedding, final norm, lm_head): their parameters by
/// Hugging Face name. The runtime's embedding / head shards implement it, like <see cref="Sequential.ILayerContext"/>
/// for layers. Valid only inside the call that received it.
/// </summary>
public interface IModelContext
{
    /// <summary>The parameters present ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight" unless tied).</summary>
    IReadOnlyList<string> ParameterNames { get; }

    /// <summary>A read-only reference to a parameter in its stored dtype (caller disposes; never write through it).</summary>
    Tensor GetParameter(string name);

    /// <summary>Sets (adds or replaces) a parameter and takes ownership of <paramref name="value"/>.</summary>
    void SetParameter(string name, Tensor value);

    /// <summary>True while lm_head reads the embedding matrix (tie_word_embeddings).</summary>
    bool TiedEmbeddings { get; }

    /// <summary>Unties: lm_head.weight becomes its own parameter (<paramref name="lmHead"/>, owned), tie_word_embeddings false.</summary>
    void Untie(Tensor lmHead);
}
