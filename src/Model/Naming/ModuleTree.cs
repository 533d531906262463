using Offload.Model.Config;

namespace Offload.Model.Naming;

/// <summary>
/// The module tree and parameter list a config implies, in the order `model.named_modules()` and the
/// state dict use for the Hugging Face class (`LlamaForCausalLM`, `MistralForCausalLM`, `Qwen2ForCausalLM`,
/// `Qwen3ForCausalLM`, whose attention also holds q_norm and k_norm after o_proj).
/// </summary>
public static class ModuleTree
{
    /// <summary>Every module, root ("") first, in `named_modules()` order.</summary>
    public static IReadOnlyList<ModuleInfo> Modules(LlamaConfig config)
    {
        var p = ClassPrefix(config.Architecture);
        string[] linear = ["Linear", "Module"];
        string[] norm = [p + "RMSNorm", "Module"];
        var list = new List<ModuleInfo>(4 + config.NumHiddenLayers * 14)
        {
            new(ModuleNames.Root, [config.ArchitectureName, p + "PreTrainedModel", "PreTrainedModel", "GenerationMixin", "Module"]),
            new(ModuleNames.Model, [p + "Model", p + "PreTrainedModel", "PreTrainedModel", "Module"]),
            new(ModuleNames.EmbedTokens, ["Embedding", "Module"]),
            new(ModuleNames.Layers, ["ModuleList", "Module"]),
        };
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            list.Add(new(ModuleNames.Layer(i), [p + "DecoderLayer", "GradientCheckpointingLayer", "Module"]));
            list.Add(new(ModuleNames.SelfAttn(i), [p + "Attention", "Module"]));
            list.Add(new(ModuleNames.QProj(i), linear));
            list.Add(new(ModuleNames.KProj(i), linear));
            list.Add(new(ModuleNames.VProj(i), linear));
            list.Add(new(ModuleNames.OProj(i), linear));
            if (config.QkNorm)
            {
                list.Add(new(ModuleNames.QNorm(i), norm));
                list.Add(new(ModuleNames.KNorm(i), norm));
            }
            list.Add(new(ModuleNames.Mlp(i), [p + "MLP", "Module"]));
            list.Add(new(ModuleNames.GateProj(i), linear));
            list.Add(new(ModuleNames.UpProj(i), linear));
            list.Add(new(ModuleNames.DownProj(i), linear));
            list.Add(new(ModuleNames.ActFn(i), ["SiLU", "Module"]));
            list.Add(new(ModuleNames.InputLayerNorm(i), norm));
            list.Add(new(ModuleNames.PostAttentionLayerNorm(i), norm));
        }
        list.Add(new(ModuleNames.FinalNorm, norm));
        list.Add(new(ModuleNames.RotaryEmb, [p + "RotaryEmbedding", "Module"]));
        list.Add(new(ModuleNames.LmHead, linear));
        return list;
    }

    /// <summary>
    /// The parameters of decoder layer <paramref name="layer"/> with their shapes, in state-dict order.
    /// </summary>
    public static IReadOnlyList<TensorSpec> LayerParameters(LlamaConfig c, int layer)
    {
        long h = c.HiddenSize, q = c.QDim, kv = c.KvDim, inter = c.IntermediateSize, d = c.HeadDim;
        var list = new List<TensorSpec>(16)
        {
            new(ModuleNames.Weight(ModuleNames.QProj(layer)), [q, h]),
        };
        if (c.QkvBias) list.Add(new(ModuleNames.Bias(ModuleNames.QProj(layer)), [q]));
        list.Add(new(ModuleNames.Weight(ModuleNames.KProj(layer)), [kv, h]));
        if (c.QkvBias) list.Add(new(ModuleNames.Bias(ModuleNames.KProj(layer)), [kv]));
        list.Add(new(ModuleNames.Weight(ModuleNames.VProj(layer)), [kv, h]));
        if (c.QkvBias) list.Add(new(ModuleNames.Bias(ModuleNames.VProj(layer)), [kv]));
        list.Add(new(ModuleNames.Weight(ModuleNames.OProj(layer)), [h, q]));
        if (c.OProjBias) list.Add(new(ModuleNames.Bias(ModuleNames.OProj(layer)), [h]));
        if (c.QkNorm)
        {
            list.Add(new(ModuleNames.Weight(ModuleNames.QNorm(layer)), [d]));
            list.Add(new(ModuleNames.Weight(ModuleNames.KNorm(layer)), [d]));
        }
        list.Add(new(ModuleNames.Weight(ModuleNames.GateProj(layer)), [inter, h]));
        if (c.MlpBiasEnabled) list.Add(new(ModuleNames.Bias(ModuleNames.GateProj(layer)), [inter]));
        list.Add(new(ModuleNames.Weight(ModuleNames.UpProj(layer)), [inter, h]));
        if (c.MlpBiasEnabled) list.Add(new(ModuleNames.Bias(ModuleNames.UpProj(layer)), [inter]));
        list.Add(new(ModuleNames.Weight(ModuleNames.DownProj(layer)), [h, inter]));
        if (c.MlpBiasEnabled) list.Add(new(ModuleNames.Bias(ModuleNames.DownProj(layer)), [h]));
        list.Add(new(ModuleNames.Weight(ModuleNames.InputLayerNorm(layer)), [h]));
        list.Add(new(ModuleNames.Weight(ModuleNames.PostAttentionLayerNorm(layer)), [h]));
        return list;
    }

    /// <summary>
    /// Every parameter the checkpoint must hold, in state-dict order: the embedding, each layer's, the final norm, and
    /// `lm_head.weight` unless the embeddings are tied (then the checkpoint may omit it, as transformers does).
    /// </summary>
    public static IReadOnlyList<TensorSpec> Parameters(LlamaConfig c)
    {
        var list = new List<TensorSpec> { new(ModuleNames.Weight(ModuleNames.EmbedTokens), [c.VocabSize, c.HiddenSize]) };
        for (var i = 0; i < c.NumHiddenLayers; i++) list.AddRange(LayerParameters(c, i));
        list.Add(new(ModuleNames.Weight(ModuleNames.FinalNorm), [c.HiddenSize]));
        if (!c.TieWordEmbeddings) list.Add(new(ModuleNames.Weight(ModuleNames.LmHead), [c.VocabSize, c.HiddenSize]));
        return list;
    }

    private static string ClassPrefix(ModelArchitecture a) => a switch
    {
        ModelArchitecture.Mistral => "Mistral",
        ModelArchitecture.Qwen2 => "Qwen2",
        ModelArchitecture.Qwen3 => "Qwen3",
        _ => "Llama",
    };
}
