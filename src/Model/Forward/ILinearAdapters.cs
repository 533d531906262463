namespace Offload.Model.Forward;

/// <summary>
/// Optional online additions to a decoder layer's linears (e.g. an unmerged LoRA adapter: y += s·B·(A·x)), called
/// after each linear when <see cref="DecoderLayer.Adapters"/> is set.
/// </summary>
public interface ILinearAdapters
{
    /// <summary>y += adapter(x). x: [tokens, in] f32 (the linear's input), y: [tokens, out] f32 (its output).</summary>
    void AddTo(int layer, LayerLinear linear, ReadOnlySpan<float> x, Span<float> y, int tokens);
}
