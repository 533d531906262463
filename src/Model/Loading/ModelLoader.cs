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

    /// <summary>Checks that the checkpoint holds every parameter the config implies, with the right shape and a readable dtype.</summary>
    public static void Validate(LlamaConfig config, SafetensorsCheckpoint checkpoint)
    {
        foreach (var spec in ModuleTree.Parameters(config))
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
