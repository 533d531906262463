using System.Text.Json;
using Offload.Compression.Checkpoint;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Tokenizers;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>`offload compress` of a model folder that carries a Hugging Face tokenizer.json instead of a llama2.c tokenizer.bin.</summary>
public sealed class HfTokenizerCompressTests
{
    private static readonly string[] TokenizerFiles = [HfTokenizer.FileName, HfTokenizer.ConfigFileName, HfTokenizer.SpecialTokensMapFileName];

    [Fact]
    public void A_model_with_a_byte_level_tokenizer_json_compresses_from_a_text_jsonl()
    {
        using var temp = new TempDir();
        var model = temp.Sub("model");
        var synth = CliHarness.Run("synth", "--out", model, "--preset", "tiny", "--layers", "2", "--hidden", "128", "--intermediate", "256",
            "--heads", "4", "--kv-heads", "2", "--vocab", "2050", "--seed", "7");
        Assert.True(synth.Code == 0, synth.Err);
        File.Delete(Path.Combine(model, Llama2cTokenizer.FileName));
        var source = Path.Combine(SharedData.Dir, "tokenizers", "bytelevel-bpe");
        foreach (var f in TokenizerFiles) File.Copy(Path.Combine(source, f), Path.Combine(model, f));
        File.WriteAllText(Path.Combine(model, "generation_config.json"), "{\"bos_token_id\": 2048, \"eos_token_id\": 2049}");

        // A JSON-lines dataset of text records: the paragraphs of the shared story text.
        var paragraphs = File.ReadAllText(SharedData.File("tinystories_valid_head.txt"))
            .Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(40).ToList();
        var dataset = temp.Sub("calib.jsonl");
        File.WriteAllLines(dataset, paragraphs.Select(p => JsonSerializer.Serialize(new Dictionary<string, string> { ["text"] = p })));

        var outDir = temp.Sub("out");
        var run = CliHarness.Run("compress", "--model", model, "--scheme", "W4A16", "--method", "gptq", "--dataset", dataset,
            "--samples", "4", "--seq-len", "32", "--batch", "2", "--device-memory", "64MiB", "--out", outDir, "--progress", "none");
        Assert.True(run.Code == 0, run.Err);

        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors")));
        using (var checkpoint = CompressedCheckpoint.Open(outDir))
        using (var lm = checkpoint.LoadModel())
            Assert.Equal(2050, lm.Config.VocabSize);
        foreach (var f in TokenizerFiles.Append("generation_config.json"))
            Assert.Equal(File.ReadAllBytes(Path.Combine(model, f)), File.ReadAllBytes(Path.Combine(outDir, f)));
        Assert.False(File.Exists(Path.Combine(outDir, Llama2cTokenizer.FileName)));

        // The copied tokenizer is the one the output loads, and it encodes the calibration text as the source does:
        // each record starts with BOS 2048 (the post-processor's template).
        using var source2 = ModelLoader.Load(model);
        var tok = Assert.IsType<HfTokenizer>(ModelLoader.LoadTokenizer(outDir, source2.Config));
        var ids = tok.Encode(paragraphs[0]);
        Assert.Equal(2048, ids[0]);
        Assert.Equal(paragraphs[0], tok.Decode(ids));
        Assert.Equal(EvalProtocol.TokenStream(paragraphs[0], ModelLoader.LoadTokenizer(model, source2.Config)), EvalProtocol.TokenStream(paragraphs[0], tok));
    }
}
