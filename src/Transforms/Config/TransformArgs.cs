namespace Offload.Transforms.Config;

/// <summary>
/// How and where a scheme's matrix is applied (compressed-tensors' TransformArgs, strict). Targets and ignores are
/// exact module names, "re:&lt;pattern&gt;" regexes matched at the start of the name (Python re.match), or class
/// names such as "Linear".
/// </summary>
public sealed record TransformArgs
{
    public TransformArgs(IReadOnlyList<string> targets, TransformLocation location, bool inverse = false, IReadOnlyList<string>? ignore = null)
    {
        Targets = targets.ToArray();
        Location = location;
        Inverse = inverse;
        Ignore = (ignore ?? []).ToArray();
    }

    /// <summary>Modules the transform applies to.</summary>
    public IReadOnlyList<string> Targets { get; }

    /// <summary>Where on each module.</summary>
    public TransformLocation Location { get; }

    /// <summary>Apply the inverse matrix (Aᵀ for the Hadamard types, R⁻¹ for random-matrix).</summary>
    public bool Inverse { get; }

    /// <summary>Modules excluded from <see cref="Targets"/>.</summary>
    public IReadOnlyList<string> Ignore { get; }

    /// <summary>True when the location runs in the forward pass (not fused into a weight).</summary>
    public bool IsOnline => Location.IsOnline();

    /// <summary>Value equality over the lists' contents.</summary>
    public bool SameAs(TransformArgs other) =>
        Location == other.Location && Inverse == other.Inverse && Targets.SequenceEqual(other.Targets) && Ignore.SequenceEqual(other.Ignore);
}
