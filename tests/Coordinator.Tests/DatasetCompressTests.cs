using System.Text;
using Offload.Model.Tests.Datasets;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>
/// `offload compress` from each kind of calibration dataset: the same tokens as text JSON lines, input_ids JSON lines,
/// a Parquet text column and a folder of Parquet input_ids shards give byte-identical GPTQ W4A16 checkpoints, and
/// input_ids need no tokenizer in the model folder.
/// </summary>
public sealed class DatasetCompressTests
{
    private const int Samples = 6, SeqLen = 16;

    private static readonly string[] Texts =
    [
        "Once upon a time there was a small robot.",
        "It liked to count the stars at night",
        "and to sing to the moon.",
        "One day the moon sang back, very softly.",
        "The robot was so happy that it danced",
        "until the sun came up over the hills.",
    ];

    /// <summary>
    /// The byte-level llama2.c tokenizer that `offload synth` writes, worked by hand: BOS = 1, the dummy-prefix space
    /// and every space 259 (the " " piece after the 256 byte pieces), any other byte b its fallback id b + 3.
    /// </summary>
    private static int[] Ids(string text)
    {
        var ids = new List<int> { 1, 259 };
        foreach (var b in Encoding.ASCII.GetBytes(text)) ids.Add(b == (byte)' ' ? 259 : b + 3);
        return [.. ids];
    }

    // GPTQ W4A16 per channel (the tiny model's 32 features have no group of 128).
    private const string GptqW4A16Channel = """
        quant_stage:
          quant_modifiers:
            GPTQModifier:
              ignore: [lm_head]
              config_groups:
                group_0:
                  targets: [Linear]
                  weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
        """;

    private static (int Code, string Out, string Err) Compress(string model, string dataset, string outDir, params string[] extra) =>
        Compress(model, dataset, outDir, Samples, extra);

    private static (int Code, string Out, string Err) Compress(string model, string dataset, string outDir, int samples, params string[] extra)
    {
        var recipe = Path.Combine(Path.GetDirectoryName(outDir)!, "recipe.yaml");
        File.WriteAllText(recipe, GptqW4A16Channel);
        return CliHarness.Run([
            "compress", "--model", model, "--recipe", recipe, "--dataset", dataset, "--samples", $"{samples}", "--seq-len", $"{SeqLen}",
            "--batch", "2", "--devices", "cpu:0", "--device-memory", "4MiB", "--out", outDir, "--progress", "none", .. extra,
        ]);
    }

    private static Dictionary<string, byte[]> Checkpoint(string dir)
    {
        var files = Directory.GetFiles(dir).ToDictionary(Path.GetFileName, File.ReadAllBytes)!;
        files.Remove("tokenizer.bin"); // copied from the model folder when it has one
        return files!;
    }

    [Fact]
    public void The_same_tokens_from_text_jsonl_input_ids_jsonl_and_parquet_give_byte_identical_checkpoints()
    {
        using var temp = new TempDir();
        var (model, _) = JobTestModels.Write(temp, JobTestModels.Small());
        Assert.True(File.Exists(Path.Combine(model, "tokenizer.bin")), "synth writes a byte-level tokenizer.bin for vocab 512");
        // The same model without any tokenizer: input_ids must not need one.
        var bare = temp.Sub("bare");
        Directory.CreateDirectory(bare);
        foreach (var f in Directory.GetFiles(model))
            if (Path.GetFileName(f) != "tokenizer.bin") File.Copy(f, Path.Combine(bare, Path.GetFileName(f)));
        var ids = Texts.Select(Ids).ToArray();
        Assert.True(ids.Sum(r => r.Length) >= Samples * SeqLen, "the texts give enough windows");

        var textJsonl = temp.Sub("text.jsonl");
        File.WriteAllLines(textJsonl, Texts.Select(t => $"{{\"text\": \"{t}\"}}"));
        var idsJsonl = temp.Sub("ids.jsonl");
        File.WriteAllLines(idsJsonl, ids.Select(r => $"{{\"input_ids\": [{string.Join(", ", r)}]}}"));
        var textParquet = temp.Sub("text.parquet");
        ParquetFiles.WriteText(textParquet, Texts[..4], Texts[4..]);
        var shards = temp.Sub("data");
        Directory.CreateDirectory(shards);
        ParquetFiles.WriteIds(Path.Combine(shards, "train-00000-of-00002.parquet"), true, ids[..3]);
        ParquetFiles.WriteIds(Path.Combine(shards, "train-00001-of-00002.parquet"), true, ids[3..]);

        var runs = new (string Name, string Model, string Dataset)[]
        {
            ("text-jsonl", model, textJsonl), ("ids-jsonl", bare, idsJsonl), ("text-parquet", model, textParquet), ("ids-parquet", bare, shards),
        };
        Dictionary<string, byte[]>? reference = null;
        foreach (var (name, dir, dataset) in runs)
        {
            var outDir = temp.Sub("out-" + name);
            var r = Compress(dir, dataset, outDir, "--dataset-split", "last");
            Assert.True(r.Code == 0, $"{name}: {r.Err}");
            Assert.Contains($"calibration: {Samples} windows × {SeqLen} tokens, last of ", r.Err);
            var files = Checkpoint(outDir);
            Assert.Contains("model.safetensors", files.Keys);
            if (reference is null)
            {
                reference = files;
                continue;
            }
            Assert.Equal(reference.Keys.Order(), files.Keys.Order());
            foreach (var (file, bytes) in reference) Assert.True(bytes.AsSpan().SequenceEqual(files[file]), $"{name}: {file} differs from the text JSON lines run");
        }

        // Other windows (the first ones) give another checkpoint: the identity above is the calibration's, not a constant.
        var first = Compress(bare, idsJsonl, temp.Sub("out-first"), "--dataset-split", "first");
        Assert.True(first.Code == 0, first.Err);
        Assert.False(reference!["model.safetensors"].AsSpan().SequenceEqual(Checkpoint(temp.Sub("out-first"))["model.safetensors"]));

        // A text dataset does need the tokenizer: one line naming what is missing.
        var noTokenizer = Compress(bare, textJsonl, temp.Sub("out-no-tokenizer"));
        Assert.NotEqual(0, noTokenizer.Code);
        var line = Assert.Single(CliHarness.Lines(noTokenizer.Err), l => l.StartsWith("offload:", StringComparison.Ordinal));
        Assert.Contains("tokenizer.bin", line);
        Assert.DoesNotContain("   at ", noTokenizer.Err);
    }

    [Fact]
    public void Random_split_and_bad_options_are_one_line_each()
    {
        using var temp = new TempDir();
        var (model, _) = JobTestModels.Write(temp, JobTestModels.Small());
        var idsJsonl = temp.Sub("ids.jsonl");
        File.WriteAllLines(idsJsonl, Texts.Select(t => $"{{\"input_ids\": [{string.Join(", ", Ids(t))}]}}"));
        var random = Compress(model, idsJsonl, temp.Sub("out-random"), 2, "--dataset-split", "random", "--seed", "5");
        Assert.True(random.Code == 0, random.Err);
        Assert.Contains("calibration: 2 windows × 16 tokens, random (seed 5) of ", random.Err);

        var badSplit = Compress(model, idsJsonl, temp.Sub("out-bad"), "--dataset-split", "middle");
        Assert.NotEqual(0, badSplit.Code);
        Assert.Contains("offload: --dataset-split middle: use first, last or random", badSplit.Err);
        var outOfRange = temp.Sub("big.jsonl");
        File.WriteAllText(outOfRange, "{\"input_ids\": [1, 2, 70000]}\n");
        var big = Compress(model, outOfRange, temp.Sub("out-big"));
        Assert.NotEqual(0, big.Code);
        Assert.Contains($"offload: {outOfRange}:1: token id 70000 is not in [0, 512)", big.Err);
        Assert.False(Directory.Exists(temp.Sub("out-big")));
    }
}
