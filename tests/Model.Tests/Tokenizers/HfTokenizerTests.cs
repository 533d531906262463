using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Synthetic;
using Offload.Model.Tokenizers;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit.Abstractions;

namespace Offload.Model.Tests.Tokenizers;

/// <summary>
/// tokenizer.json loading against the reference encodings in ../shared/data/tokenizers/cases.jsonl (made by the real
/// Hugging Face `tokenizers` library), and the file variants real Hub folders carry.
/// </summary>
public sealed class HfTokenizerTests(ITestOutputHelper output)
{
    private const string ByteLevel = "bytelevel-bpe";
    private const string SentencePiece = "sentencepiece-bpe";

    private static readonly Dictionary<string, Lazy<HfTokenizer>> s_shared = new()
    {
        [ByteLevel] = new(() => HfTokenizer.Load(Folder(ByteLevel))),
        [SentencePiece] = new(() => HfTokenizer.Load(Folder(SentencePiece))),
    };

    private static string Folder(string name) => Path.Combine(SharedData.Dir, "tokenizers", name);

    private sealed record Case(string Tokenizer, string Category, string Text, int[] Ids, int[] IdsNoSpecial, string[] Tokens, string Decoded, string DecodedKeepSpecial);

    private static readonly Lazy<List<Case>> s_cases = new(() =>
    {
        var list = new List<Case>();
        foreach (var line in File.ReadLines(SharedData.File("tokenizers/cases.jsonl")))
        {
            if (line.Length == 0) continue;
            var e = JsonDocument.Parse(line).RootElement;
            static int[] Ints(JsonElement a) => a.EnumerateArray().Select(x => x.GetInt32()).ToArray();
            list.Add(new Case(e.GetProperty("tokenizer").GetString()!, e.GetProperty("category").GetString()!, e.GetProperty("text").GetString()!,
                Ints(e.GetProperty("ids")), Ints(e.GetProperty("ids_no_special")), e.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()!).ToArray(),
                e.GetProperty("decoded").GetString()!, e.GetProperty("decoded_keep_special").GetString()!));
        }
        return list;
    });

    public static TheoryData<int> CaseNumbers()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < s_cases.Value.Count; i++) data.Add(i);
        return data;
    }

    private static T OneLine<T>(Action act, params string[] mentions) where T : OffloadException
    {
        var e = Assert.Throws<T>(act);
        foreach (var m in mentions) Assert.Contains(m, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    private static void AssertCase(HfTokenizer tok, Case c)
    {
        Assert.Equal(c.Ids, tok.Encode(c.Text, bos: true));
        Assert.Equal(c.IdsNoSpecial, tok.Encode(c.Text, bos: false));
        Assert.Equal(c.Tokens, c.Ids.Select(tok.Token).ToArray());
        Assert.Equal(c.Decoded, tok.Decode(c.Ids));
        Assert.Equal(c.DecodedKeepSpecial, tok.Decode(c.Ids, skipSpecialTokens: false));
    }

    [Fact]
    public void Cases_file_has_both_tokenizers()
    {
        Assert.Equal(84, s_cases.Value.Count);
        Assert.Equal(42, s_cases.Value.Count(c => c.Tokenizer == ByteLevel));
        Assert.Equal(42, s_cases.Value.Count(c => c.Tokenizer == SentencePiece));
    }

    [Theory]
    [MemberData(nameof(CaseNumbers))]
    public void Reference_case_matches_ids_tokens_and_decoding(int number)
    {
        var c = s_cases.Value[number];
        AssertCase(s_shared[c.Tokenizer].Value, c);
    }

    [Theory]
    [MemberData(nameof(CaseNumbers))]
    public void Streaming_pieces_add_up_to_the_decoded_text(int number)
    {
        var c = s_cases.Value[number];
        if (c.Category == "special") return; // special-token strings inside the text: the skip-decoding drops spaces per sequence, not per piece
        var tok = s_shared[c.Tokenizer].Value;
        var bytes = new List<byte>();
        var previous = -1;
        foreach (var id in c.Ids)
        {
            bytes.AddRange(tok.DecodePiece(previous, id));
            previous = id;
        }
        Assert.Equal(c.Decoded, Encoding.UTF8.GetString(bytes.ToArray()));
    }

    [Fact]
    public void Special_ids_come_from_the_config_files()
    {
        var bl = s_shared[ByteLevel].Value;
        Assert.Equal((2048, 2049, 2050, 2048), (bl.BosId, bl.EosId, bl.VocabSize, bl.ModelVocabSize));
        var sp = s_shared[SentencePiece].Value;
        Assert.Equal((1, 2, 1024, 1024), (sp.BosId, sp.EosId, sp.VocabSize, sp.ModelVocabSize));
        Assert.Equal([2048, 2049], bl.Encode("", bos: true, eos: true));
        Assert.Equal([2049], bl.Encode("", bos: false, eos: true));
        Assert.Equal(2, sp.Encode("Hi", bos: true, eos: true)[^1]);
        Assert.True(bl.IsSpecial(2048) && !bl.IsSpecial(300));
    }

    // ---- file variants ---------------------------------------------------------------------------------------

    /// <summary>A copy of a shared tokenizer folder in a scratch folder, with edits.</summary>
    private static string Variant(string name, Action<JsonObject>? editTokenizer = null, string? config = null, bool specialTokensMap = true)
    {
        var dir = TestDirs.New(name);
        Directory.CreateDirectory(dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder(name), HfTokenizer.FileName)))!.AsObject();
        editTokenizer?.Invoke(json);
        File.WriteAllText(Path.Combine(dir, HfTokenizer.FileName), json.ToJsonString());
        File.WriteAllText(Path.Combine(dir, HfTokenizer.ConfigFileName), config ?? File.ReadAllText(Path.Combine(Folder(name), HfTokenizer.ConfigFileName)));
        if (specialTokensMap) File.Copy(Path.Combine(Folder(name), HfTokenizer.SpecialTokensMapFileName), Path.Combine(dir, HfTokenizer.SpecialTokensMapFileName));
        return dir;
    }

    private static void AllCasesMatch(string name, HfTokenizer tok)
    {
        foreach (var c in s_cases.Value.Where(c => c.Tokenizer == name)) AssertCase(tok, c);
    }

    [Theory]
    [InlineData(ByteLevel)]
    [InlineData(SentencePiece)]
    public void Merges_written_as_legacy_strings_give_the_same_ids(string name)
    {
        var dir = Variant(name, json =>
        {
            var model = json["model"]!.AsObject();
            var legacy = new JsonArray();
            foreach (var pair in model["merges"]!.AsArray()) legacy.Add((string)pair![0]! + " " + (string)pair[1]!);
            model["merges"] = legacy;
            model.Remove("ignore_merges"); // Llama-2's hub file has no such key
        });
        Assert.StartsWith("\"", JsonNode.Parse(File.ReadAllText(Path.Combine(dir, HfTokenizer.FileName)))!["model"]!["merges"]![0]!.ToJsonString(), StringComparison.Ordinal);
        using var tok = HfTokenizer.Load(dir);
        AllCasesMatch(name, tok); // without ignore_merges no case changes (README)
    }

    [Fact]
    public void Transformers4_config_with_added_tokens_decoder_is_read()
    {
        const string config = """
            {
              "add_bos_token": true,
              "add_eos_token": false,
              "added_tokens_decoder": {
                "0": {"content": "<unk>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true},
                "1": {"content": "<s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true},
                "2": {"content": "</s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}
              },
              "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false},
              "clean_up_tokenization_spaces": false,
              "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false},
              "legacy": false,
              "model_max_length": 1000000000000000019884624838656,
              "pad_token": null,
              "sp_model_kwargs": {},
              "tokenizer_class": "LlamaTokenizer",
              "unk_token": "<unk>",
              "use_default_system_prompt": false
            }
            """;
        using var tok = HfTokenizer.Load(Variant(SentencePiece, config: config, specialTokensMap: false));
        Assert.Equal((1, 2), (tok.BosId, tok.EosId));
        AllCasesMatch(SentencePiece, tok);
    }

    [Fact]
    public void Llama_tokenizer_class_flags_rebuild_the_template_as_transformers_does()
    {
        const string config = """
            {"add_bos_token": false, "add_eos_token": true, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
             "model_max_length": 1000000000000000019884624838656, "tokenizer_class": "LlamaTokenizerFast"}
            """;
        using var tok = HfTokenizer.Load(Variant(SentencePiece, config: config, specialTokensMap: false));
        var c = s_cases.Value.First(x => x.Tokenizer == SentencePiece);
        Assert.Equal([.. c.IdsNoSpecial, 2], tok.Encode(c.Text, bos: true));
        Assert.Equal([.. c.IdsNoSpecial, 2], tok.Encode(c.Text, bos: true, eos: true));
        Assert.Equal(c.IdsNoSpecial, tok.Encode(c.Text, bos: false));
    }

    [Fact]
    public void Transformers5_config_with_a_model_max_length_past_int64_is_read()
    {
        const string config = """
            {
              "backend": "tokenizers",
              "bos_token": "<|begin_of_text|>",
              "eos_token": "<|end_of_text|>",
              "model_max_length": 1000000000000000019884624838656,
              "tokenizer_class": "TokenizersBackend"
            }
            """;
        using var tok = HfTokenizer.Load(Variant(ByteLevel, config: config, specialTokensMap: false));
        Assert.Equal((2048, 2049), (tok.BosId, tok.EosId));
        AllCasesMatch(ByteLevel, tok);
    }

    [Fact]
    public void Without_config_files_bos_comes_from_the_template_and_there_is_no_eos()
    {
        var dir = Variant(ByteLevel, specialTokensMap: false);
        File.Delete(Path.Combine(dir, HfTokenizer.ConfigFileName));
        using var tok = HfTokenizer.Load(dir);
        Assert.Equal((2048, -1), (tok.BosId, tok.EosId));
        Assert.Equal([2048, 393], tok.Encode("Once", bos: true, eos: true));
    }

    [Fact]
    public void Malformed_or_unsupported_files_give_one_line()
    {
        var dir = Variant(ByteLevel);
        var file = Path.Combine(dir, HfTokenizer.FileName);
        var good = File.ReadAllText(file);

        File.WriteAllText(file, good[..(good.Length / 2)]);
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), file, "not valid JSON");

        File.WriteAllText(file, "{\"version\": \"1.0\"}");
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), file, "\"model\"");

        void Edit(Action<JsonObject> edit)
        {
            var json = JsonNode.Parse(good)!.AsObject();
            edit(json);
            File.WriteAllText(file, json.ToJsonString());
        }

        Edit(j => j["model"]!["type"] = "WordPiece");
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), file, "WordPiece", "BPE");
        Edit(j => j["model"]!.AsObject().Remove("vocab"));
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), file, "model.vocab");
        Edit(j => j["model"]!["merges"]!.AsArray()[0] = 42);
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), file, "merge 42");
        Edit(j => j["decoder"] = new JsonObject { ["type"] = "WordPiece" });
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), file, "decoder \"WordPiece\"");
        Edit(j => j["model"]!["vocab"]!["Ġupon"] = "x");
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), file, "Ġupon");

        File.WriteAllText(file, good);
        var config = Path.Combine(dir, HfTokenizer.ConfigFileName);
        File.WriteAllText(config, "{\"bos_token\": \"<|begin_of_text|>\",");
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), config, "not valid JSON");
        File.WriteAllText(config, "{\"bos_token\": \"<s>\"}");
        OneLine<TokenizerException>(() => HfTokenizer.Load(dir), config, "bos_token \"<s>\"");

        var missing = TestDirs.New("none");
        Directory.CreateDirectory(missing);
        OneLine<TokenizerException>(() => HfTokenizer.Load(missing), "tokenizer.json", "not found");
    }

    // ---- model folders ---------------------------------------------------------------------------------------

    private static string ModelWithTokenizer(int vocab)
    {
        var dir = TestDirs.Synth(SynthPresets.Get("tiny") with { Layers = 1, Vocab = vocab, Seed = 3 }, name: "hfmodel");
        File.Delete(Path.Combine(dir, Llama2cTokenizer.FileName));
        foreach (var f in new[] { HfTokenizer.FileName, HfTokenizer.ConfigFileName, HfTokenizer.SpecialTokensMapFileName })
            File.Copy(Path.Combine(Folder(ByteLevel), f), Path.Combine(dir, f));
        return dir;
    }

    [Fact]
    public void Model_folder_with_tokenizer_json_loads_it_and_checks_the_vocab()
    {
        var dir = ModelWithTokenizer(2050);
        using (var lm = ModelLoader.Load(dir))
        {
            var tok = Assert.IsType<HfTokenizer>(ModelLoader.LoadTokenizer(dir, lm.Config));
            var c = s_cases.Value.First(x => x.Tokenizer == ByteLevel);
            Assert.Equal(c.Ids, tok.Encode(c.Text));
        }

        // The added tokens may lie past vocab_size; a text that uses one is refused.
        var narrow = ModelWithTokenizer(2048);
        using (var lm = ModelLoader.Load(narrow))
        {
            var tok = ModelLoader.LoadTokenizer(narrow, lm.Config);
            var c = s_cases.Value.First(x => x.Tokenizer == ByteLevel);
            Assert.Equal(c.IdsNoSpecial, tok.Encode(c.Text, bos: false));
            OneLine<TokenizerException>(() => tok.Encode(c.Text, bos: true), "<|begin_of_text|>", "2048", "vocab_size");
            OneLine<TokenizerException>(() => tok.Encode("The end.<|end_of_text|>", bos: false), "<|end_of_text|>", "2049");
        }

        var small = ModelWithTokenizer(1024);
        using (var lm = ModelLoader.Load(small))
            OneLine<TokenizerException>(() => ModelLoader.LoadTokenizer(small, lm.Config), "2048", "1024");

        File.Delete(Path.Combine(small, HfTokenizer.FileName));
        using (var lm = ModelLoader.Load(small))
            OneLine<TokenizerException>(() => ModelLoader.LoadTokenizer(small, lm.Config), small, "tokenizer.json", "tokenizer.bin");
    }

    [Fact]
    [Trait("Category", "Measure")]
    public void Measure_tokenizing_the_794KB_text()
    {
        var text = File.ReadAllText(SharedData.File("tinystories_valid_head.txt"));
        foreach (var name in new[] { ByteLevel, SentencePiece })
        {
            var tok = s_shared[name].Value;
            var ids = tok.Encode(text); // warm-up (the library's word cache, page faults)
            var whole = new List<double>();
            var parts = new List<double>();
            var stream = Array.Empty<int>();
            for (var r = 0; r < 3; r++)
            {
                var sw = Stopwatch.StartNew();
                ids = tok.Encode(text);
                whole.Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                stream = EvalProtocol.TokenStream(text, tok);
                parts.Add(sw.Elapsed.TotalMilliseconds);
            }
            whole.Sort();
            parts.Sort();
            output.WriteLine($"{name}: {text.Length} chars → {ids.Length} ids in {whole[0]:F0}/{whole[1]:F0} ms (one call, min/median of 3); eval token stream (BOS per part) {stream.Length} ids in {parts[0]:F0}/{parts[1]:F0} ms");
        }
    }
}
