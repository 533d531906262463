using Offload.Model.Config;
using Offload.Tensors;

namespace Offload.Model.Forward;

/// <summary>
/// A Llama-family causal language model: embedding → decoder layers (taken one at a time from an
/// <see cref="ILayerSource"/>) → final norm → lm_head. Nothing here assumes that all layers are resident.
/// </summary>
public sealed class CausalLM : IDisposable
{
    private readonly IDisposable? _owned;

    /// <param name="owned">disposed with the model after the parts (e.g. the mapped checkpoint the parts view).</param>
    public CausalLM(LlamaConfig config, TokenEmbedding embedding, ILayerSource layers, OutputHead head, IDisposable? owned = null)
    {
        if (layers.Count != config.NumHiddenLayers) throw new ArgumentException($"layer source has {layers.Count} layers, config {config.NumHiddenLayers}");
        Config = config;
        Embedding = embedding;
        Layers = layers;
        Head = head;
        _owned = owned;
    }

    public LlamaConfig Config { get; }
    public TokenEmbedding Embedding { get; }
    public ILayerSource Layers { get; }
    public OutputHead Head { get; }

    /// <summary>tokens: [batch·seq] → hidden [batch, seq, hidden] f32.</summary>
    public Tensor Embed(ReadOnlySpan<int> tokens, int batch, int seq) => Embedding.Lookup(tokens, batch, seq);

    /// <summary>Runs decoder layer <paramref name="index"/> (acquired and released around the call). hidden: [batch, seq, hidden] f32 → same.</summary>
    public Tensor RunLayer(int index, Tensor hidden, KvCache? cache = null)
    {
        var layer = Layers.Acquire(index);
        try
        {
            return layer.Forward(hidden, cache?.Layer(index));
        }
        finally
        {
            Layers.Release(layer);
        }
    }

    /// <summary>
    /// Runs every decoder layer in order. hidden: [batch, seq, hidden] f32 (left to the caller) → the last layer's
    /// output [batch, seq, hidden] f32. <paramref name="onLayerInput"/> sees each layer's input (the residual stream).
    /// </summary>
    public Tensor RunLayers(Tensor hidden, KvCache? cache = null, Action<int, Tensor>? onLayerInput = null)
    {
        var current = hidden;
        try
        {
            for (var i = 0; i < Layers.Count; i++)
            {
                onLayerInput?.Invoke(i, current);
                var next = RunLayer(i, current, cache);
                if (!ReferenceEquals(current, hidden)) current.Dispose();
                current = next;
            }
            return ReferenceEquals(current, hidden) ? hidden.Share() : current;
        }
        catch
        {
            if (!ReferenceEquals(current, hidden)) current.Dispose();
            throw;
        }
    }

    /// <summary>hidden: [batch, seq, hidden] f32 (the last layer's output) → logits [batch, seq, vocab] f32.</summary>
    public Tensor Logits(Tensor hidden) => Head.Logits(hidden);

    /// <summary>
    /// tokens: [batch·seq] → logits [batch, seq, vocab] f32. With a cache the tokens continue the cached positions
    /// and their keys/values are appended.
    /// </summary>
    public Tensor Forward(ReadOnlySpan<int> tokens, int batch, int seq, KvCache? cache = null)
    {
        using var embedded = Embed(tokens, batch, seq);
        using var last = RunLayers(embedded, cache);
        return Logits(last);
    }

    public void Dispose()
    {
        Embedding.Dispose();
        Head.Dispose();
        (Layers as IDisposable)?.Dispose();
        _owned?.Dispose();
    }
}
