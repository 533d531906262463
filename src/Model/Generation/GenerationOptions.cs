namespace Offload.Model.Generation;

/// <summary>
/// How to pick each next token: greedy (argmax, lowest id on ties) at <see cref="Temperature"/> 0, otherwise a
/// draw from softmax(logits / T) with a seeded generator. Generation stops after <see cref="MaxNewTokens"/> or at a
/// stop token (which is not returned).
/// </summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 64;
    public double Temperature { get; init; }
    public int Seed { get; init; }
    public IReadOnlyCollection<int> StopTokens { get; init; } = [];
}
