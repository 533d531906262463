using Offload.Model.Forward;
using Offload.Tensors;

namespace Offload.Compression.Quantization;

/// <summary>
/// Builds an evaluation model from a loaded one: every decoder layer's weights go through <c>transform</c> (e.g.
/// <see cref="RtnWeights.Apply"/>, or GPTQ results, or dequantized checkpoint weights) once, and the layers run as
/// <see cref="DecoderLayer"/>s with the given input hooks (e.g. an <see cref="ActivationQuantHook"/>). Embedding,
/// final norm and lm_head are shared with the source. The whole model is resident: meant for evaluation tables.
/// </summary>
public static class FakeQuantModel
{
    /// <param name="transform">(layer index, the source layer's weights) → the weights to run (owned by the result).</param>
    public static CausalLM Create(CausalLM source, Func<int, DecoderLayerWeights, DecoderLayerWeights> transform, IReadOnlyList<ILinearInputHook> hooks)
    {
        var config = source.Config;
        var rope = new RotaryEmbedding(config);
        var layers = new List<DecoderLayer>(config.NumHiddenLayers);
        try
        {
            for (var i = 0; i < config.NumHiddenLayers; i++)
            {
                var layer = source.Layers.Acquire(i);
                try
                {
                    var weights = layer is DecoderLayer d ? d.Weights
                        : throw new ArgumentException($"layer {i} is a {layer.GetType().Name}; fake-quantized evaluation needs its weights");
                    layers.Add(new DecoderLayer(config, i, transform(i, weights), rope) { Hooks = hooks });
                }
                finally
                {
                    source.Layers.Release(layer);
                }
            }
            var embedding = new TokenEmbedding(source.Embedding.Weight.Share());
            var head = new OutputHead(source.Head.FinalNorm.Share(), source.Head.LmHead.Share(), config.RmsNormEps);
            return new CausalLM(config, embedding, new ResidentLayerSource(layers), head);
        }
        catch
        {
            foreach (var l in layers) l.Dispose();
            throw;
        }
    }

    /// <summary>A copy of the layer's weights sharing every tensor (the identity transform).</summary>
    public static DecoderLayerWeights Shared(DecoderLayerWeights w, int layer, Model.Config.LlamaConfig config)
    {
        var named = w.Named(layer).ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        return DecoderLayerWeights.From(config, layer, n => named.TryGetValue(n, out var t) ? t.Share() : null, "shared layer");
    }
}
