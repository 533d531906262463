namespace Offload.Compression.Quantization;

/// <summary>
/// The calibrated input scales of one linear with static input activations: FP8 (or int) per-tensor
/// <see cref="Scale"/> (the model dtype's value, stored as input_scale), or NVFP4's <see cref="GlobalScale"/> (f32,
/// stored as input_global_scale; the group scales are computed per token at run time).
/// </summary>
public readonly record struct StaticInputScale(float? Scale, float? GlobalScale);
