namespace Offload.Compression.Gptq;

/// <summary>GPTQ's solver settings (llm-compressor defaults: block_size 128, dampening_frac 0.01).</summary>
public sealed record GptqOptions
{
    public int BlockSize { get; init; } = 128;

    public double DampeningFrac { get; init; } = 0.01;

    /// <summary>The actorder used when the scheme sets none (llm-compressor resolves its default to static); null = off.</summary>
    public Quantization.ActivationOrdering? DefaultActOrder { get; init; } = Quantization.ActivationOrdering.Static;
}
