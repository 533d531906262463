namespace Offload.Transforms.Cache;

/// <summary>
/// What makes two random matrices of one kind and size the same: the generator seed, the generator position when
/// the matrix was drawn (a factory draws one matrix per new size, in module order, so the second size's draw starts
/// where the first one ended), and a variant tag for anything else that changes the values (the base-matrix source
/// of random-hadamard, the draw resolution of random-matrix). Deterministic matrices use <see cref="None"/>.
/// </summary>
public readonly record struct TransformSeed(ulong Seed, long Offset, string Variant)
{
    /// <summary>The seed of deterministic transforms.</summary>
    public static TransformSeed None { get; } = new(0, 0, "");

    public override string ToString() => Variant.Length == 0 ? $"{Seed}@{Offset}" : $"{Seed}@{Offset}/{Variant}";
}
