using Offload.Model.Config;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Model.Tokenizers;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Import;

/// <summary>
/// Converts a llama2.c checkpoint (+ its tokenizer.bin) into a Hugging Face Llama folder: config.json,
/// model.safetensors and tokenizer.bin. llama2.c rotates interleaved pairs (x[2i], x[2i+1]); Hugging Face rotates
/// halves (x[i], x[i + d/2]). The q and k rows of every head are reordered as transformers' conversion script does
/// (view [heads, d/2, 2, in], swap the middle axes), so the imported model computes the same function.
/// </summary>
public static class Llama2cImporter
{
    /// <summary>llama2.c's RMSNorm epsilon and RoPE base, fixed in its run.c.</summary>
    public const double RmsNormEps = 1e-5;
    public const double RopeTheta = 10000;

    /// <summary>
    /// Writes the converted model to <paramref name="outDir"/> (through a temporary folder renamed at the end).
    /// <paramref name="tokenizerPath"/> may be null (no tokenizer.bin is written then).
    /// </summary>
    public static LlamaConfig Import(string modelPath, string? tokenizerPath, string outDir, DType dtype = DType.F32)
    {
        if (dtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new CheckpointException($"--dtype {dtype.ToTorchName()} is not supported for the imported weights (supported: float32, float16, bfloat16)");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new CheckpointException($"{outDir}: output folder exists and is not empty; remove it or choose another --out");
        var ckpt = Llama2cCheckpoint.Read(modelPath);
        var config = ConfigOf(ckpt.Header, dtype);
        Llama2cTokenizer? tokenizer = null;
        if (tokenizerPath is not null)
        {
            tokenizer = Llama2cTokenizer.Load(tokenizerPath);
            tokenizer.EnsureFits(config, modelPath);
        }
        var full = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        var tmp = full + ".tmp-" + Environment.ProcessId;
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        try
        {
            var tensors = ToHuggingFace(ckpt, config);
            try
            {
                var stored = tensors.Select(t => (t.Name, dtype == DType.F32 ? t.Tensor : t.Tensor.To(dtype))).ToList();
                try
                {
                    SafetensorsWriter.WriteFile(Path.Combine(tmp, SafetensorsCheckpoint.SingleFileName), stored,
                        new Dictionary<string, string> { ["format"] = "pt", ["source"] = "llama2.c:" + Path.GetFileName(modelPath) });
                }
                finally
                {
                    if (dtype != DType.F32) foreach (var (_, t) in stored) t.Dispose();
                }
            }
            finally
            {
                foreach (var (_, t) in tensors) t.Dispose();
            }
            File.WriteAllText(Path.Combine(tmp, LlamaConfig.FileName), config.ToJson());
            if (tokenizerPath is not null) File.Copy(tokenizerPath, Path.Combine(tmp, Llama2cTokenizer.FileName));
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(tmp, full);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
        return config;
    }

    /// <summary>The Hugging Face config of a llama2.c model.</summary>
    public static LlamaConfig ConfigOf(Llama2cHeader h, DType dtype = DType.F32) => new()
    {
        Architecture = ModelArchitecture.Llama,
        HiddenSize = h.Dim,
        IntermediateSize = h.HiddenDim,
        NumHiddenLayers = h.Layers,
        NumAttentionHeads = h.Heads,
        NumKeyValueHeads = h.KvHeads,
        HeadDim = h.HeadSize,
        RmsNormEps = RmsNormEps,
        RopeTheta = RopeTheta,
        MaxPositionEmbeddings = h.SeqLen,
        TieWordEmbeddings = h.SharedClassifier,
        VocabSize = h.VocabSize,
        TorchDtype = dtype,
        BosTokenId = Llama2cTokenizer.Bos,
        EosTokenIds = [Llama2cTokenizer.Eos],
    };

    /// <summary>The model's tensors under Hugging Face names and layout (f32), in state-dict order.</summary>
    public static List<(string Name, Tensor Tensor)> ToHuggingFace(Llama2cCheckpoint c, LlamaConfig config)
    {
        var h = c.Header;
        int d = h.Dim, kv = h.KvDim, hd = h.HiddenDim;
        var byName = new Dictionary<string, Func<Tensor>>(StringComparer.Ordinal)
        {
            [ModuleNames.Weight(ModuleNames.EmbedTokens)] = () => Tensor.FromArray(c.TokenEmbedding, h.VocabSize, d),
            [ModuleNames.Weight(ModuleNames.FinalNorm)] = () => Tensor.FromArray(c.RmsFinal, d),
        };
        if (!h.SharedClassifier) byName[ModuleNames.Weight(ModuleNames.LmHead)] = () => Tensor.FromArray(c.Classifier, h.VocabSize, d);
        for (var l = 0; l < h.Layers; l++)
        {
            var i = l;
            byName[ModuleNames.Weight(ModuleNames.QProj(i))] = () => Tensor.FromArray(InterleavedToHalves(Rows(c.Wq, i, d, d), h.Heads, d), d, d);
            byName[ModuleNames.Weight(ModuleNames.KProj(i))] = () => Tensor.FromArray(InterleavedToHalves(Rows(c.Wk, i, kv, d), h.KvHeads, d), kv, d);
            byName[ModuleNames.Weight(ModuleNames.VProj(i))] = () => Tensor.FromArray(Rows(c.Wv, i, kv, d), kv, d);
            byName[ModuleNames.Weight(ModuleNames.OProj(i))] = () => Tensor.FromArray(Rows(c.Wo, i, d, d), d, d);
            byName[ModuleNames.Weight(ModuleNames.GateProj(i))] = () => Tensor.FromArray(Rows(c.W1, i, hd, d), hd, d);
            byName[ModuleNames.Weight(ModuleNames.UpProj(i))] = () => Tensor.FromArray(Rows(c.W3, i, hd, d), hd, d);
            byName[ModuleNames.Weight(ModuleNames.DownProj(i))] = () => Tensor.FromArray(Rows(c.W2, i, d, hd), d, hd);
            byName[ModuleNames.Weight(ModuleNames.InputLayerNorm(i))] = () => Tensor.FromArray(Rows(c.RmsAtt, i, 1, d), d);
            byName[ModuleNames.Weight(ModuleNames.PostAttentionLayerNorm(i))] = () => Tensor.FromArray(Rows(c.RmsFfn, i, 1, d), d);
        }
        var result = new List<(string, Tensor)>();
        try
        {
            foreach (var spec in ModuleTree.Parameters(config)) result.Add((spec.Name, byName[spec.Name]()));
        }
        catch
        {
            foreach (var (_, t) in result) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Reorders the rows of a q or k weight [heads·head_dim, in] from llama2.c's interleaved pairs to Hugging Face's
    /// rotate-half layout: within each head, row 2i + c moves to c·head_dim/2 + i (c ∈ {0, 1}).
    /// </summary>
    public static float[] InterleavedToHalves(ReadOnlySpan<float> w, int heads, int inFeatures)
    {
        var rows = w.Length / inFeatures;
        var headDim = rows / heads;
        var half = headDim / 2;
        var result = new float[w.Length];
        for (var head = 0; head < heads; head++)
        {
            for (var i = 0; i < half; i++)
            {
                for (var c = 0; c < 2; c++)
                {
                    var src = head * headDim + 2 * i + c;
                    var dst = head * headDim + c * half + i;
                    w.Slice(src * inFeatures, inFeatures).CopyTo(result.AsSpan(dst * inFeatures, inFeatures));
                }
            }
        }
        return result;
    }

    private static float[] Rows(float[] all, int layer, int rows, int cols) => all.AsSpan(layer * rows * cols, rows * cols).ToArray();
}
