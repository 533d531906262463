using System.Text.Json;
using Offload.Compression.Checkpoint;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Tests.Datasets;
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

    /// <summary>
    /// The bytelevel-bpe cases of the shared cases.jsonl: each text and the ids the real Hugging Face `tokenizers`
    /// library gave it (BOS 2048 first, as the post-processor adds). Blank texts are left out: a blank text record is
    /// skipped (documented), while its ids record would still hold the BOS.
    /// </summary>
    private static List<(string Text, int[] Ids)> ByteLevelCases() =>
        File.ReadLines(Path.Combine(SharedData.Dir, "tokenizers", "cases.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("tokenizer").GetString() == "bytelevel-bpe" && !string.IsNullOrWhiteSpace(e.GetProperty("text").GetString()))
            .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
            .ToList();

    private static string WriteModel(TempDir temp, string name, bool withTokenizer)
    {
        var model = temp.Sub(name);
        var synth = CliHarness.Run("synth", "--out", model, "--preset", "tiny", "--layers", "2", "--hidden", "128", "--intermediate", "256",
            "--heads", "4", "--kv-heads", "2", "--vocab", "2050", "--seed", "7");
        Assert.True(synth.Code == 0, synth.Err);
        File.Delete(Path.Combine(model, Llama2cTokenizer.FileName));
        if (withTokenizer)
        {
            var source = Path.Combine(SharedData.Dir, "tokenizers", "bytelevel-bpe");
            foreach (var f in TokenizerFiles) File.Copy(Path.Combine(source, f), Path.Combine(model, f));
        }
        return model;
    }

    [Fact]
    public void Text_jsonl_input_ids_jsonl_and_parquet_give_byte_identical_checkpoints_with_a_tokenizer_json()
    {
        using var temp = new TempDir();
        var model = WriteModel(temp, "model", withTokenizer: true);
        var bare = WriteModel(temp, "bare", withTokenizer: false); // the same weights (same seed), no tokenizer at all
        var cases = ByteLevelCases();
        Assert.True(cases.Count >= 35 && cases.Sum(c => c.Ids.Length) >= 8 * 64, "the cases give enough windows");

        var textJsonl = temp.Sub("text.jsonl");
        File.WriteAllLines(textJsonl, cases.Select(c => JsonSerializer.Serialize(new Dictionary<string, string> { ["text"] = c.Text })));
        var idsJsonl = temp.Sub("ids.jsonl");
        File.WriteAllLines(idsJsonl, cases.Select(c => $"{{\"input_ids\": [{string.Join(", ", c.Ids)}]}}"));
        var textParquet = temp.Sub("text.parquet");
        var half = cases.Count / 2;
        ParquetFiles.WriteText(textParquet, [.. cases[..half].Select(c => c.Text)], [.. cases[half..].Select(c => c.Text)]);
        var idsParquet = temp.Sub("ids.parquet");
        ParquetFiles.WriteIds(idsParquet, true, cases.Select(c => c.Ids).ToArray());

        var runs = new (string Name, string Model, string Dataset)[]
        {
            ("text-jsonl", model, textJsonl), ("ids-jsonl", bare, idsJsonl), ("text-parquet", model, textParquet), ("ids-parquet", bare, idsParquet),
        };
        byte[]? reference = null;
        foreach (var (name, dir, dataset) in runs)
        {
            var outDir = temp.Sub("out-" + name);
            var run = CliHarness.Run("compress", "--model", dir, "--scheme", "W4A16", "--method", "gptq", "--dataset", dataset,
                "--dataset-split", "last", "--samples", "8", "--seq-len", "64", "--batch", "2", "--device-memory", "64MiB",
                "--out", outDir, "--progress", "none");
            Assert.True(run.Code == 0, $"{name}: {run.Err}");
            Assert.Contains("calibration: 8 windows × 64 tokens, last of ", run.Err);
            var weights = File.ReadAllBytes(Path.Combine(outDir, "model.safetensors"));
            if (reference is null) reference = weights;
            else Assert.True(reference.AsSpan().SequenceEqual(weights), $"{name}: model.safetensors differs from the text JSON lines run");
        }

        // The first windows instead of the last give other weights: the identity above is the calibration's.
        var first = CliHarness.Run("compress", "--model", bare, "--scheme", "W4A16", "--method", "gptq", "--dataset", idsJsonl,
            "--dataset-split", "first", "--samples", "8", "--seq-len", "64", "--batch", "2", "--device-memory", "64MiB",
            "--out", temp.Sub("out-first"), "--progress", "none");
        Assert.True(first.Code == 0, first.Err);
        Assert.False(reference!.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(temp.Sub("out-first"), "model.safetensors"))));
    }
}
