using Offload.Protocol;

namespace Offload.Transforms.Config;

/// <summary>
/// One transform group (compressed-tensors' TransformScheme, strict): the matrix family, where it goes, whether it is
/// permuted (randomize), its block size (head_dim) and the precision of its online applications. Fused (offline)
/// applications always compute in f64 and round once to the weight dtype.
/// </summary>
public sealed record TransformScheme
{
    public TransformScheme(TransformType type, IReadOnlyList<TransformArgs>? apply = null, bool randomize = false, bool requiresGrad = false, int? headDim = null, DType precision = DType.F32)
    {
        if (headDim is <= 0) throw new TransformConfigException($"transform scheme: head_dim {headDim} must be a positive block size (or null for the full size)");
        if (!precision.IsFloat()) throw new TransformConfigException($"transform scheme: precision {precision} is not a floating-point dtype; use torch.float32 or torch.float64");
        Type = type;
        Apply = (apply ?? []).ToArray();
        Randomize = randomize;
        RequiresGrad = requiresGrad;
        HeadDim = headDim;
        Precision = precision;
    }

    /// <summary>The matrix family.</summary>
    public TransformType Type { get; }

    /// <summary>Where the matrix is applied; every entry shares the same matrix for a given size.</summary>
    public IReadOnlyList<TransformArgs> Apply { get; }

    /// <summary>Conjugate the Hadamard matrix by a random permutation (one per matrix).</summary>
    public bool Randomize { get; }

    /// <summary>Kept for compatibility; learnable transforms are not supported by the runtime.</summary>
    public bool RequiresGrad { get; }

    /// <summary>Block size of a block-diagonal transform (null: the full dimension).</summary>
    public int? HeadDim { get; }

    /// <summary>Compute dtype of online locations (serialised "torch.float32", …).</summary>
    public DType Precision { get; }

    /// <summary>Value equality over the lists' contents.</summary>
    public bool SameAs(TransformScheme other) =>
        Type == other.Type && Randomize == other.Randomize && RequiresGrad == other.RequiresGrad && HeadDim == other.HeadDim &&
        Precision == other.Precision && Apply.Count == other.Apply.Count && Apply.Zip(other.Apply).All(p => p.First.SameAs(p.Second));
}
