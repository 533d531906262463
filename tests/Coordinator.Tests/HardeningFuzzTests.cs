using System.Text;
using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Model.Config;
using Offload.Model.Datasets;
using Offload.Model.Synthetic;
using Offload.Model.Tokenizers;
using Offload.Protocol;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>
/// Issue 17's property tests for the parsing entry points: thousands of mutated config.json texts, recipe YAMLs and
/// dataset files (byte flips, truncations, inserted commas, comments, NULs, random numbers, duplicated or dropped
/// spans), each fed in-process to the parser the CLI uses. Every input either parses into valid, finite values or is
/// refused with one line by a project error (an <see cref="OffloadException"/>, which the CLI prints as exit code 2);
/// nothing else escapes. Seeded: a failure names its seed and the input.
/// </summary>
public sealed class HardeningFuzzTests
{
    private const int Iterations = 3000;

    private static readonly string[] s_insertions =
        [",", ", ", "//", "/* c */", "# c", "\0", "\n", "\t", "{", "}", "[", "]", "\"", ":", "-", "?", "&a", "*a", "!!binary", "NaN", "Infinity", "-0", "1e309",
         "-1", "0", "2147483648", "9999999999999999999999", "1.5", "null", "true", "'", "\\u0000", "\uFFFD", "é", "\u2028", "%YAML 1.2\n", "---\n", "...\n"];

    [Fact]
    public void Mutated_config_json_parses_into_a_valid_config_or_fails_with_one_line()
    {
        var seedText = new SynthOptions { Layers = 2, Hidden = 64, Intermediate = 128, Heads = 4, KvHeads = 2, Vocab = 512 }.ToConfig().ToJson();
        var llama31 = """
            {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000, "eos_token_id": [128001, 128009],
             "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
             "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
             "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
             "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256}
            """;
        var parsed = 0;
        Fuzz(Iterations, [seedText, llama31], text =>
        {
            LlamaConfig config;
            try { config = LlamaConfig.Parse(text, "config.json"); }
            catch (OffloadException e)
            {
                AssertOneLine(e, "config.json");
                return;
            }
            parsed++;
            Assert.True(config.HiddenSize > 0 && config.IntermediateSize > 0 && config.NumHiddenLayers > 0 && config.VocabSize > 0);
            Assert.True(config.NumAttentionHeads > 0 && config.NumKeyValueHeads > 0 && config.NumAttentionHeads % config.NumKeyValueHeads == 0);
            Assert.True(config.HeadDim > 0 && config.HeadDim % 2 == 0);
            Assert.True(double.IsFinite(config.RmsNormEps) && config.RmsNormEps > 0);
            Assert.True(double.IsFinite(config.RopeTheta) && config.RopeTheta > 0);
            if (config.RopeScaling is { } s) Assert.True(double.IsFinite(s.Factor) && s.Factor > 0);
            // What parses is strict JSON: no comment and no trailing comma got through.
            using var strict = System.Text.Json.JsonDocument.Parse(text);
            // And it round-trips.
            Assert.Equal(config.HiddenSize, LlamaConfig.Parse(config.ToJson()).HiddenSize);
        });
        Assert.InRange(parsed, 1, Iterations - 1);
    }

    [Fact]
    public void Mutated_recipes_parse_into_a_compress_recipe_or_fail_with_one_line()
    {
        string[] seeds =
        [
            """
            quant_stage:
              quant_modifiers:
                SpinQuantModifier: {rotations: [R1, R2], transform_type: hadamard}
                GPTQModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head], dampening_frac: 0.01, block_size: 128}
            """,
            """
            version: 1.0
            quant_stage:
              run_type: oneshot
              quant_modifiers:
                QuantizationModifier:
                  ignore: [lm_head, "re:.*down_proj"]
                  config_groups:
                    group_0:
                      targets: [Linear]
                      weights: {num_bits: 4, type: int, symmetric: false, strategy: group, group_size: 64}
                      input_activations: {num_bits: 8, type: float, strategy: tensor, dynamic: false, symmetric: true}
                  kv_cache_scheme: {num_bits: 8, type: float, strategy: tensor, dynamic: false, symmetric: true}
            """,
        ];
        var config = new SynthOptions { Layers = 2, Hidden = 128, Intermediate = 256, Heads = 4, KvHeads = 2, Vocab = 512 }.ToConfig();
        var parsed = 0;
        Fuzz(Iterations, seeds, text =>
        {
            CompressionRecipe recipe;
            try
            {
                recipe = CompressionRecipe.From(Recipe.Parse(text, "recipe.yaml"), text);
                // The checks a compress run makes before any work (targets, ignore, at least one linear).
                recipe.Plan?.CheckTargets(config, "recipe.yaml");
                recipe.Plan?.Resolve(config);
            }
            catch (OffloadException e)
            {
                AssertOneLine(e, "recipe.yaml");
                return;
            }
            parsed++;
            Assert.True(recipe.Rotation is not null || recipe.Quantization is not null);
            Assert.True(double.IsFinite(recipe.Gptq.DampeningFrac) && recipe.Gptq.DampeningFrac >= 0);
            Assert.True(recipe.Gptq.BlockSize > 0);
            if (recipe.Plan is { } plan)
                foreach (var g in plan.Groups)
                    if (g.Weights is { } w) Assert.InRange(w.NumBits, 1, 8);
        });
        Assert.InRange(parsed, 1, Iterations - 1);
    }

    [Fact]
    public void Mutated_dataset_files_read_into_in_vocabulary_records_or_fail_with_one_line()
    {
        const int vocab = 300;
        string[] seeds =
        [
            "Once upon a time there was a cat.\n\nThe cat sat on the mat.\n\nThe end.\n",
            "{\"text\": \"Once upon a time\"}\n{\"text\": \"there was a dog\"}\n{\"input_ids\": [1, 2, 3, 299]}\n",
            "[{\"input_ids\": [5, 6, 7]}, {\"text\": \"a story\"}, {\"input_ids\": [0, 299, 17]}]",
        ];
        using var temp = new TempDir();
        var tokenizer = new ByteTokenizer(vocab);
        var parsed = 0;
        var i = 0;
        Fuzz(Iterations, seeds, text =>
        {
            // Raw bytes: the mutations may make them invalid UTF-8 (Latin-1 mapping of every char ≤ 0xFF).
            var bytes = Mutate.Bytes(text);
            var file = Path.Combine(temp.Path, $"d{i++ % 8}{(text.TrimStart().StartsWith('{') ? ".jsonl" : ".txt")}");
            File.WriteAllBytes(file, bytes);
            DatasetRecords records;
            try { records = DatasetReader.Read(file, () => tokenizer, vocab); }
            catch (OffloadException e)
            {
                AssertOneLine(e, Path.GetFileName(file));
                return;
            }
            parsed++;
            Assert.True(records.TokenCount > 0);
            foreach (var r in records.Records)
                foreach (var id in r)
                    Assert.InRange(id, 0, vocab - 1);
            // What was read as text was valid UTF-8 without NUL bytes.
            Assert.True(System.Text.Unicode.Utf8.IsValid(bytes) && !bytes.Contains((byte)0), "binary data was read as text");
        });
        Assert.InRange(parsed, 1, Iterations - 1);
    }

    // ---- machinery -------------------------------------------------------------------------------------------

    private static void AssertOneLine(OffloadException e, string names)
    {
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\r', e.Message);
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        Assert.DoesNotContain("Exception", e.Message);
        Assert.True(e.Message.Contains(names, StringComparison.Ordinal), $"'{names}' not named in: {e.Message}");
    }

    /// <summary>Runs <paramref name="check"/> on <paramref name="count"/> mutants of the seeds (seed i: one to four mutations); reports the failing input.</summary>
    private static void Fuzz(int count, string[] seeds, Action<string> check)
    {
        for (var i = 0; i < count; i++)
        {
            var rng = new Random(i);
            var text = seeds[i % seeds.Length];
            var mutations = 1 + rng.Next(4);
            for (var m = 0; m < mutations; m++) text = Mutate.Text(text, rng);
            try
            {
                check(text);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"seed {i}: {e.GetType().Name}: {e.Message}\ninput: {Escape(text)}\n{e.StackTrace}");
            }
            catch (Xunit.Sdk.XunitException e)
            {
                Assert.Fail($"seed {i}: {e.Message}\ninput: {Escape(text)}");
            }
        }
    }

    private static string Escape(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    private static class Mutate
    {
        public static string Text(string s, Random rng)
        {
            if (s.Length == 0) return s_insertions[rng.Next(s_insertions.Length)];
            var at = rng.Next(s.Length + 1);
            switch (rng.Next(9))
            {
                case 0: // truncate
                    return s[..at];
                case 1: // flip a bit of one character (kept in the Latin-1 range or in the BMP)
                {
                    if (at == s.Length) at--;
                    var c = (char)(s[at] ^ (1 << rng.Next(8)));
                    return s[..at] + c + s[(at + 1)..];
                }
                case 2: // insert a token (comma, comment, NUL, bracket, YAML anchor, …)
                    return s[..at] + s_insertions[rng.Next(s_insertions.Length)] + s[at..];
                case 3: // replace a number with a random one
                {
                    var digit = s.IndexOfAny("0123456789".ToCharArray(), at == s.Length ? 0 : at);
                    if (digit < 0) return s;
                    var end = digit;
                    while (end < s.Length && (char.IsDigit(s[end]) || s[end] is '.' or 'e' or '-')) end++;
                    string[] numbers = ["0", "-1", "3", "7", "1e400", "-1e-400", "2147483647", "4294967296", "0.5", "NaN", "1e-45", "65", "129"];
                    return s[..digit] + numbers[rng.Next(numbers.Length)] + s[end..];
                }
                case 4: // delete a span
                {
                    var len = Math.Min(rng.Next(1, 12), s.Length - Math.Min(at, s.Length - 1));
                    at = Math.Min(at, s.Length - 1);
                    return s[..at] + s[(at + len)..];
                }
                case 5: // duplicate a span
                {
                    at = Math.Min(at, s.Length - 1);
                    var len = Math.Min(rng.Next(1, 30), s.Length - at);
                    return s[..at] + s[at..(at + len)] + s[at..];
                }
                case 6: // a trailing comma before a closing bracket
                {
                    var close = s.IndexOfAny(['}', ']'], Math.Min(at, s.Length - 1));
                    return close < 0 ? s + "," : s[..close] + "," + s[close..];
                }
                case 7: // a raw byte ≥ 0x80 (invalid UTF-8 alone once written as Latin-1)
                    return s[..at] + (char)(0x80 + rng.Next(0x80)) + s[at..];
                default: // swap two characters
                {
                    if (s.Length < 2) return s;
                    at = Math.Min(at, s.Length - 2);
                    return s[..at] + s[at + 1] + s[at] + s[(at + 2)..];
                }
            }
        }

        /// <summary>The text as file bytes: characters ≤ 0xFF as single bytes (so an inserted 0x80..0xFF is invalid UTF-8), others UTF-8.</summary>
        public static byte[] Bytes(string text)
        {
            var bytes = new List<byte>(text.Length);
            Span<byte> buffer = stackalloc byte[4];
            foreach (var rune in text.EnumerateRunes())
            {
                if (rune.Value <= 0xFF && rune.Value >= 0x80) bytes.Add((byte)rune.Value);
                else
                {
                    var n = rune.EncodeToUtf8(buffer);
                    for (var k = 0; k < n; k++) bytes.Add(buffer[k]);
                }
            }
            return [.. bytes];
        }
    }
}
