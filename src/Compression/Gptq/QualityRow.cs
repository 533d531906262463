namespace Offload.Compression.Gptq;

/// <summary>One row of the quality table: perplexity on the evaluation windows and agreement with the FP model's logits.</summary>
public sealed record QualityRow(string Name, double Perplexity, double MeanNll, double MeanKl, double Top1Agreement, double Seconds, string? Note = null);
