using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Model.Tokenizers;
using Offload.Protocol;

namespace Offload.Model.Loading;

/// <summary>
/// Opens a Hugging Face checkpoint folder (config.json + model.safetensors or shards) as a <see cref="CausalLM"/>
/// whose layers are built on demand over the memory-mapped files. Every tensor the config implies is checked
/// (present, shape, dtype) before anything runs, so a bad checkpoint fails at load with a one-line error.
/// </summary>
public static class ModelLoader
{
    /// <summary>Loads and validates the checkpoint in <paramref name="dir"/>.</summary>
    public static CausalLM Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new CheckpointException($"{dir}: model folder not found; pass --model with a folder holding config.json and model.safetensors");
        var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
        var checkpoint = SafetensorsCheckpoint.Open(dir);
        try
        {
            Validate(config, checkpoint);
            var rope = new RotaryEmbedding(config);
            var embedding = new TokenEmbedding(checkpoint.Get(ModuleNames.Weight(ModuleNames.EmbedTokens)));
            var lmHead = config.TieWordEmbeddings ? embedding.Weight.Share() : checkpoint.Get(ModuleNames.Weight(ModuleNames.LmHead));
            var head = new OutputHead(checkpoint.Get(ModuleNames.Weight(ModuleNames.FinalNorm)), lmHead, config.RmsNormEps);
            return new CausalLM(config, embedding, new CheckpointLayerSource(config, checkpoint, rope), head, checkpoint);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks that the checkpoint agrees with the config, whatever the job: every parameter the config implies is there
    /// with the right shape and a readable float dtype, the embedding has vocab_size rows, and every tensor the config
    /// does not explain (a layer index ≥ num_hidden_layers, an unknown name) is refused by name rather than dropped.
    /// Tolerated, as transformers does: lm_head.weight of a tied model (same shape as the embedding) and rotary
    /// inv_freq buffers.
    /// </summary>
    public static void Validate(LlamaConfig config, SafetensorsCheckpoint checkpoint)
    {
        var embed = ModuleNames.Weight(ModuleNames.EmbedTokens);
        if (checkpoint.Contains(embed) && checkpoint.Descriptor(embed).Shape is [var rows, var cols] && cols == config.HiddenSize && rows != config.VocabSize)
            throw new CheckpointException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{FileOf(checkpoint, embed)}: '{embed}' has {rows} rows but config.json's vocab_size is {config.VocabSize}; set vocab_size to {rows} in config.json or re-export the checkpoint"));
        var specs = ModuleTree.Parameters(config);
        foreach (var spec in specs)
        {
            if (!checkpoint.Contains(spec.Name))
                throw new CheckpointException($"{checkpoint.Directory}: missing tensor '{spec.Name}' {spec.ShapeText} that config.json requires ({config.NumHiddenLayers} layers, hidden {config.HiddenSize}); re-export the checkpoint or fix config.json");
            var d = checkpoint.Descriptor(spec.Name);
            var file = FileOf(checkpoint, spec.Name);
            if (!spec.ShapeEquals(d.Shape))
                throw new CheckpointException($"{file}: tensor '{spec.Name}' has shape [{string.Join(", ", d.Shape)}] but config.json implies {spec.ShapeText}; fix config.json or re-export the checkpoint");
            if (!DecoderLayerWeights.IsReadable(d.DType))
                throw new CheckpointException($"{file}: tensor '{spec.Name}' has dtype {d.DType.ToSafetensorsName()}, which the forward pass cannot read (supported: F32, F16, BF16); dequantize the checkpoint first");
        }
        var expected = new HashSet<string>(specs.Select(s => s.Name), StringComparer.Ordinal);
        foreach (var name in checkpoint.Names.Order(StringComparer.Ordinal))
        {
            if (expected.Contains(name) || name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
            var file = FileOf(checkpoint, name);
            var lmHead = ModuleNames.Weight(ModuleNames.LmHead);
            if (name == lmHead && config.TieWordEmbeddings)
            {
                var d = checkpoint.Descriptor(name);
                if (d.Shape is [var r, var c] && r == config.VocabSize && c == config.HiddenSize && DecoderLayerWeights.IsReadable(d.DType)) continue;
                throw new CheckpointException($"{file}: tensor '{name}' has shape [{string.Join(", ", d.Shape)}] {d.DType.ToSafetensorsName()} but config.json ties it to the embedding [{config.VocabSize}, {config.HiddenSize}]; fix config.json or re-export the checkpoint");
            }
            var layer = ModuleNames.LayerIndexOf(name);
            if (layer >= config.NumHiddenLayers)
                throw new CheckpointException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{file}: tensor '{name}' belongs to layer {layer}, but config.json has num_hidden_layers {config.NumHiddenLayers} (layers 0..{config.NumHiddenLayers - 1}); fix num_hidden_layers or re-export the checkpoint"));
            throw new CheckpointException($"{file}: tensor '{name}' is not a parameter of {config.ArchitectureName} as config.json describes it; remove it, fix config.json (biases, q/k norms, tie_word_embeddings) or re-export the checkpoint");
        }
    }

    /// <summary>
    /// Refuses a checkpoint holding NaN or ±Inf in any float tensor (one line naming the tensor and the count); see
    /// <see cref="NonFiniteScan"/>. Reads every tensor byte once.
    /// </summary>
    public static void CheckFinite(string dir)
    {
        if (!Directory.Exists(dir)) throw new CheckpointException($"{dir}: model folder not found; pass --model with a folder holding config.json and model.safetensors");
        NonFiniteScan.Check(dir);
    }

    /// <summary>
    /// The model's tokenizer, checked against its vocabulary size: the Hugging Face tokenizer.json (with
    /// tokenizer_config.json / special_tokens_map.json) when the folder has one, else the llama2.c tokenizer.bin.
    /// </summary>
    public static ITokenizer LoadTokenizer(string dir, LlamaConfig config)
    {
        var modelSource = Path.Combine(dir, LlamaConfig.FileName);
        if (File.Exists(Path.Combine(dir, HfTokenizer.FileName)))
        {
            var hf = HfTokenizer.Load(dir);
            hf.EnsureFits(config, modelSource);
            return hf;
        }
        var path = Path.Combine(dir, Llama2cTokenizer.FileName);
        if (!File.Exists(path))
            throw new TokenizerException($"{dir}: no tokenizer in the model folder; copy the model's Hugging Face {HfTokenizer.FileName} (with {HfTokenizer.ConfigFileName}) there, or a llama2.c {Llama2cTokenizer.FileName} (`offload import-llama2c --tokenizer`)");
        var tokenizer = Llama2cTokenizer.Load(path);
        tokenizer.EnsureFits(config, modelSource);
        return tokenizer;
    }

    private static string FileOf(SafetensorsCheckpoint checkpoint, string tensor)
    {
        foreach (var f in checkpoint.Files)
            if (f.Contains(tensor)) return f.Path;
        return checkpoint.Directory;
    }
}
