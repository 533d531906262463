using System.Text;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Tests.Reference;
using Offload.Model.Tokenizers;
using Offload.Tests.Shared;

namespace Offload.Model.Tests;

public sealed class TokenizerTests
{
    private static readonly Lazy<Llama2cTokenizer> s_tok512 = new(() => Llama2cTokenizer.Load(SharedData.File("tok512.bin")));
    private static readonly Lazy<Llama2cTokenizer> s_llama = new(() => Llama2cTokenizer.Load(SharedData.File("tokenizer.bin")));

    private static readonly string[] Samples =
    [
        "Once upon a time",
        "Spot. Spot saw the shiny car and said, \"Wow, Kitty, your car is so bright and clean!\"",
        "  leading and trailing spaces  ",
        "tabs\tand\nnew lines\n\nand   runs of spaces",
        "naïve café — déjà vu, 東京 🙂 ☃",
        "x",
        "1234567890 + 0.5 = ?",
    ];

    [Fact]
    public void Llama2_vocabulary_gives_the_known_ids()
    {
        // Ids of Meta's Llama 2 tokenizer (as every Llama 2 tokenizer reports them).
        Assert.Equal([1, 15043, 3186], s_llama.Value.Encode("Hello world"));
        Assert.Equal([1, 9038, 2501, 263, 931], s_llama.Value.Encode("Once upon a time"));
        Assert.Equal(32000, s_llama.Value.VocabSize);
    }

    [Theory]
    [InlineData("tok512.bin")]
    [InlineData("tokenizer.bin")]
    public void Encode_equals_the_literal_llama2c_algorithm(string file)
    {
        var tok = file == "tok512.bin" ? s_tok512.Value : s_llama.Value;
        var naive = new NaiveLlama2cEncoder(SharedData.File(file));
        var text = File.ReadAllText(SharedData.File("tinystories_valid_head.txt"));
        var parts = EvalProtocol.SplitParts(text).Take(file == "tok512.bin" ? 6 : 2).Concat(Samples);
        foreach (var part in parts)
            Assert.Equal(naive.Encode(part, bos: true), tok.Encode(part, bos: true));
    }

    [Theory]
    [InlineData("tok512.bin")]
    [InlineData("tokenizer.bin")]
    public void Decode_inverts_encode(string file)
    {
        var tok = file == "tok512.bin" ? s_tok512.Value : s_llama.Value;
        foreach (var s in Samples) Assert.Equal(s, tok.Decode(tok.Encode(s, bos: true)));
        var story = File.ReadAllText(SharedData.File("tinystories_valid_head.txt"))[..20000];
        Assert.Equal(story, tok.Decode(tok.Encode(story, bos: true)));
    }

    [Fact]
    public void Unknown_characters_fall_back_to_byte_ids()
    {
        var tok = s_tok512.Value;
        var expected = new List<int> { 1, tok.Lookup(" ") };
        foreach (var b in Encoding.UTF8.GetBytes("🙂")) expected.Add(b + 3);
        Assert.Equal(expected, tok.Encode("🙂"));
        Assert.Equal("<0xF0>", tok.PieceText(0xF0 + 3));
    }

    [Fact]
    public void Empty_text_has_no_dummy_prefix_and_eos_is_appended_on_request()
    {
        Assert.Equal([1], s_tok512.Value.Encode(""));
        Assert.Equal([1, 2], s_tok512.Value.Encode("", bos: true, eos: true));
        var ids = s_tok512.Value.Encode("a", bos: false, eos: true);
        Assert.Equal(2, ids[^1]);
        Assert.NotEqual(1, ids[0]);
    }

    [Fact]
    public void Decode_strips_the_dummy_prefix_only_after_bos()
    {
        var tok = s_tok512.Value;
        var once = tok.Encode("Once", bos: false);
        Assert.StartsWith(" ", Encoding.UTF8.GetString(tok.DecodePiece(-1, once[0])));
        Assert.DoesNotContain((byte)' ', tok.DecodePiece(1, once[0]).Take(1));
        Assert.Empty(tok.DecodePiece(5, 1));
        Assert.Empty(tok.DecodePiece(5, 2));
    }

    [Fact]
    public void Save_round_trips_and_byte_level_tokenizer_encodes_bytes()
    {
        var path = TestDirs.New("tok") + ".bin";
        s_tok512.Value.Save(path);
        Assert.Equal(File.ReadAllBytes(SharedData.File("tok512.bin")), File.ReadAllBytes(path));
        var bytes = Llama2cTokenizer.CreateByteLevel(300);
        Assert.Equal(300, bytes.VocabSize);
        Assert.Equal([1, 259, 'h' + 3, 'i' + 3], bytes.Encode("hi"));
        Assert.Equal("hi", bytes.Decode(bytes.Encode("hi")));
    }

    [Fact]
    public void Vocabulary_mismatch_and_bad_files_are_one_line_errors()
    {
        var config = new LlamaConfig { HiddenSize = 64, IntermediateSize = 172, NumHiddenLayers = 1, NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 8, VocabSize = 32000 };
        var e = Assert.Throws<TokenizerException>(() => s_tok512.Value.EnsureFits(config, "model/config.json"));
        Assert.Contains("512", e.Message);
        Assert.Contains("32000", e.Message);
        Assert.DoesNotContain('\n', e.Message);

        var truncated = TestDirs.New("trunc") + ".bin";
        File.WriteAllBytes(truncated, File.ReadAllBytes(SharedData.File("tok512.bin"))[..3000]);
        var t = Assert.Throws<TokenizerException>(() => Llama2cTokenizer.Load(truncated));
        Assert.Contains(truncated, t.Message);
        Assert.DoesNotContain('\n', t.Message);
        Assert.Throws<TokenizerException>(() => Llama2cTokenizer.Load(TestDirs.New("missing") + ".bin"));
    }
}
