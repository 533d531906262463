namespace Offload.Transforms.Config;

/// <summary>Wire names of <see cref="TransformType"/>: the registry names of compressed-tensors' factories.</summary>
public static class TransformTypes
{
    /// <summary>Every type in declaration order.</summary>
    public static IReadOnlyList<TransformType> All { get; } =
        [TransformType.Hadamard, TransformType.RandomHadamard, TransformType.RandomMatrix, TransformType.RandomOrthogonal];

    /// <summary>"hadamard", "random-hadamard", "random-matrix" or "random-orthogonal".</summary>
    public static string ToWireName(this TransformType type) => type switch
    {
        TransformType.Hadamard => "hadamard",
        TransformType.RandomHadamard => "random-hadamard",
        TransformType.RandomMatrix => "random-matrix",
        TransformType.RandomOrthogonal => "random-orthogonal",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown transform type"),
    };

    /// <summary>Parses a wire name (exact spelling).</summary>
    public static bool TryParse(string name, out TransformType type)
    {
        foreach (var t in All)
        {
            if (t.ToWireName() != name) continue;
            type = t;
            return true;
        }
        type = default;
        return false;
    }

    /// <summary>True for the types whose matrix is a ±1 Hadamard matrix divided by √n at application.</summary>
    public static bool IsHadamard(this TransformType type) => type is TransformType.Hadamard or TransformType.RandomHadamard;
}
