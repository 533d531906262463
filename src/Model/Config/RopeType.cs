namespace Offload.Model.Config;

/// <summary>How RoPE frequencies are scaled (`rope_scaling.rope_type` in config.json).</summary>
public enum RopeType
{
    /// <summary>No scaling: inv_freq[i] = θ^(-2i/d).</summary>
    Default,

    /// <summary>Position interpolation: every inv_freq divided by `factor`.</summary>
    Linear,

    /// <summary>Llama 3.1: low frequencies divided by `factor`, high ones kept, a smooth ramp between.</summary>
    Llama3,
}
