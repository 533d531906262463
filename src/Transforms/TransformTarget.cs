namespace Offload.Transforms;

/// <summary>
/// What the transform machinery needs to know about one module: its full name (model order matters), its family, its
/// sizes (Linear: in/out features; Embedding: num_embeddings / embedding_dim as In / Out) and the class names it
/// answers to for class-name targets ("Linear", "Embedding", …).
/// </summary>
public sealed record TransformTarget(string Name, TransformModuleKind Kind, long InFeatures, long OutFeatures, IReadOnlyList<string> ClassNames)
{
    /// <summary>A Linear named <paramref name="name"/> with weight [outFeatures, inFeatures].</summary>
    public static TransformTarget Linear(string name, long inFeatures, long outFeatures) =>
        new(name, TransformModuleKind.Linear, inFeatures, outFeatures, ["Linear", "Module"]);

    /// <summary>An Embedding with weight [numEmbeddings, dim].</summary>
    public static TransformTarget Embedding(string name, long numEmbeddings, long dim) =>
        new(name, TransformModuleKind.Embedding, numEmbeddings, dim, ["Embedding", "Module"]);

    /// <summary>An attention block (sizes come from the scheme's head_dim).</summary>
    public static TransformTarget Attention(string name, string className = "LlamaAttention") =>
        new(name, TransformModuleKind.Attention, 0, 0, [className, "Module"]);
}
