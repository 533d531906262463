namespace Offload.Transforms.Config;

/// <summary>Wire names and properties of <see cref="TransformLocation"/>.</summary>
public static class TransformLocations
{
    /// <summary>Every location in declaration order.</summary>
    public static IReadOnlyList<TransformLocation> All { get; } =
        [TransformLocation.Input, TransformLocation.WeightInput, TransformLocation.WeightOutput, TransformLocation.Output, TransformLocation.QAttn, TransformLocation.KCache];

    /// <summary>True for every location but weight_input and weight_output (those are fused into weights offline).</summary>
    public static bool IsOnline(this TransformLocation location) => location is not (TransformLocation.WeightInput or TransformLocation.WeightOutput);

    /// <summary>The serialised name: "input", "weight_input", "weight_output", "output", "q_attn", "k_cache".</summary>
    public static string ToWireName(this TransformLocation location) => location switch
    {
        TransformLocation.Input => "input",
        TransformLocation.WeightInput => "weight_input",
        TransformLocation.WeightOutput => "weight_output",
        TransformLocation.Output => "output",
        TransformLocation.QAttn => "q_attn",
        TransformLocation.KCache => "k_cache",
        _ => throw new ArgumentOutOfRangeException(nameof(location), location, "unknown location"),
    };

    /// <summary>Parses a wire name (exact spelling).</summary>
    public static bool TryParse(string name, out TransformLocation location)
    {
        foreach (var l in All)
        {
            if (l.ToWireName() != name) continue;
            location = l;
            return true;
        }
        location = default;
        return false;
    }
}
