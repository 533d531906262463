namespace Offload.Model.Config;

/// <summary>
/// `rope_scaling` of config.json. <see cref="LowFreqFactor"/>, <see cref="HighFreqFactor"/> and
/// <see cref="OriginalMaxPositionEmbeddings"/> are used by <see cref="RopeType.Llama3"/> only.
/// </summary>
public sealed record RopeScaling(RopeType Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositionEmbeddings = 8192)
{
    /// <summary>The name config.json uses for <see cref="Type"/> ("default", "linear", "llama3").</summary>
    public string TypeName => Type switch
    {
        RopeType.Linear => "linear",
        RopeType.Llama3 => "llama3",
        _ => "default",
    };
}
