using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Compression.Checkpoint;
using Offload.Compression.Quantization;
using Offload.Coordinator.Job;
using Offload.Model.SafeTensors;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>
/// Issue 17, input classes 1–5, through the CLI: a damaged or inconsistent model, a config.json that is not strict JSON,
/// a recipe that is not valid or matches nothing, data that is not what it claims. Every case: exit code 2, one line on
/// stderr that names the culprit and the fix (no stack trace, no .NET type name), and no output folder and no work
/// folder left behind.
/// </summary>
public sealed class HardeningInputTests
{
    private const string Rtn = """
        quant_stage:
          quant_modifiers:
            QuantizationModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head]}
        """;

    private const string Gptq = """
        quant_stage:
          quant_modifiers:
            GPTQModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head]}
        """;

    private const string RotationOnly = """
        quant_stage:
          quant_modifiers:
            SpinQuantModifier: {rotations: [R1, R2], transform_type: hadamard}
        """;

    /// <summary>One bad-input case: what it does to a fresh tiny model and its files, and the command it runs.</summary>
    internal sealed record Case(Func<Env, string[]> Arrange, params string[] Mentions);

    /// <summary>A tiny synthetic model (2 layers, hidden 128, vocab 512) with a recipe, data and output paths beside it.</summary>
    internal sealed class Env(TempDir temp, SynthOptions options)
    {
        public string Model { get; } = Write(temp, options);
        public string Out { get; } = temp.Sub("out");
        public string Root => temp.Path;
        public SynthOptions Options => options;

        private static string Write(TempDir temp, SynthOptions options)
        {
            var dir = temp.Sub("model");
            SyntheticCheckpoint.Write(dir, options);
            return dir;
        }

        public string File(string name, string text) => File(name, Encoding.UTF8.GetBytes(text));

        public string File(string name, byte[] bytes)
        {
            var path = temp.Sub(name);
            System.IO.File.WriteAllBytes(path, bytes);
            return path;
        }

        public string[] Compress(string recipe, params string[] extra) =>
            ["compress", "--model", Model, "--recipe", File("recipe.yaml", recipe), "--device-memory", "4MiB", "--out", Out, "--progress", "none", .. extra];

        public string[] CompressWithData(string dataset, string recipe = Gptq) =>
            Compress(recipe, "--dataset", dataset, "--samples", "2", "--seq-len", "8", "--batch", "2");

        public string[] Eval(params string[] extra) => ["eval", "--model", Model, "--text", Text(), "--seq-len", "8", "--windows", "1", .. extra];

        public string Text() => File("valid.txt", string.Join("\n\n", Enumerable.Range(0, 20).Select(i => $"Once upon a time there was a story number {i}.")));

        public string ConfigPath => Path.Combine(Model, "config.json");

        /// <summary>config.json written indented (two spaces, one key a line) after <paramref name="edit"/>; returns its text.</summary>
        public string EditConfig(Action<JsonObject> edit)
        {
            var node = JsonNode.Parse(System.IO.File.ReadAllText(ConfigPath))!.AsObject();
            edit(node);
            var text = node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
            System.IO.File.WriteAllText(ConfigPath, text);
            return text;
        }

        /// <summary>Overwrites the first <paramref name="count"/> elements of a tensor with the bit pattern <paramref name="bits"/> (little-endian, element size).</summary>
        public void Poison(string tensor, int count, ulong bits)
        {
            var path = Path.Combine(Model, "model.safetensors");
            long offset;
            int size;
            using (var f = SafetensorsFile.Open(path))
            {
                offset = f.ByteRange(tensor).Offset;
                size = f.Descriptor(tensor).DType.SizeOf();
            }
            using var s = new FileStream(path, FileMode.Open, FileAccess.Write);
            var element = BitConverter.GetBytes(bits).AsSpan(0, size).ToArray();
            for (var i = 0; i < count; i++)
            {
                s.Position = offset + ((long)i * 7 * size); // spread out: elements 0, 7, 14, ...
                s.Write(element);
            }
        }

        /// <summary>Rewrites model.safetensors after <paramref name="edit"/> of its tensor list.</summary>
        public void EditTensors(Func<List<(string Name, Tensor Tensor)>, List<(string Name, Tensor Tensor)>> edit)
        {
            var file = Path.Combine(Model, "model.safetensors");
            List<(string Name, Tensor Tensor)> tensors;
            using (var f = SafetensorsFile.Open(file))
                tensors = f.Tensors.Select(d => { using var v = f.Get(d.Name); return (d.Name, v.Clone()); }).ToList();
            var edited = edit(tensors);
            SafetensorsWriter.WriteFile(file, edited);
            foreach (var t in tensors.Select(x => x.Tensor).Concat(edited.Select(x => x.Tensor)).Distinct()) t.Dispose();
        }
    }

    private static SynthOptions Tiny(DType dtype = DType.F32, bool tie = false) => new()
    {
        Layers = 2, Hidden = 128, Intermediate = 256, Heads = 4, KvHeads = 2, Vocab = 512, DType = dtype, TieEmbeddings = tie, Seed = 11,
    };

    // f32 quiet NaN, +Inf, -Inf; bf16 NaN / +Inf; f16 -Inf.
    private const ulong F32NaN = 0x7FC0_0000, F32Inf = 0x7F80_0000, F32NegInf = 0xFF80_0000, Bf16Inf = 0x7F80, F16NegInf = 0xFC00, Bf16NaN = 0x7FC1;

    private static readonly Dictionary<string, (SynthOptions Options, Case Case)> s_cases = new()
    {
        // ---- 1. non-finite weights --------------------------------------------------------------------------------
        ["nan-f32-rtn"] = (Tiny(), new(e =>
        {
            e.Poison("model.layers.0.mlp.up_proj.weight", 3, F32NaN);
            return e.Compress(Rtn);
        }, "model.layers.0.mlp.up_proj.weight: 3 non-finite values (NaN/Inf)", "damaged", "re-download or re-convert")),
        ["inf-bf16-embedding-rtn"] = (Tiny(DType.BF16), new(e =>
        {
            e.Poison("model.embed_tokens.weight", 1, Bf16Inf);
            return e.Compress(Rtn);
        }, "model.embed_tokens.weight: 1 non-finite value (NaN/Inf)", "re-download")),
        ["neginf-f16-norm-rtn"] = (Tiny(DType.F16), new(e =>
        {
            e.Poison("model.norm.weight", 2, F16NegInf);
            return e.Compress(Rtn);
        }, "model.norm.weight: 2 non-finite values")),
        ["nan-bf16-gptq"] = (Tiny(DType.BF16), new(e =>
        {
            e.Poison("model.layers.1.self_attn.k_proj.weight", 5, Bf16NaN);
            return e.CompressWithData(e.Text());
        }, "model.layers.1.self_attn.k_proj.weight: 5 non-finite values")),
        ["inf-f32-rotation-only"] = (Tiny(), new(e =>
        {
            e.Poison("model.layers.1.self_attn.q_proj.weight", 4, F32Inf);
            return e.Compress(RotationOnly);
        }, "model.layers.1.self_attn.q_proj.weight: 4 non-finite values")),
        ["neginf-f32-lm-head-eval"] = (Tiny(), new(e =>
        {
            e.Poison("lm_head.weight", 1, F32NegInf);
            return e.Eval();
        }, "lm_head.weight: 1 non-finite value")),
        ["nan-f32-layerwise-eval"] = (Tiny(), new(e =>
        {
            e.Poison("model.layers.0.input_layernorm.weight", 2, F32NaN);
            return e.Eval("--device-memory", "4MiB", "--out", e.Out, "--progress", "none");
        }, "model.layers.0.input_layernorm.weight: 2 non-finite values")),

        // ---- 2. the model agrees with config.json, whatever the method -------------------------------------------
        ["extra-layer-rtn"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => [.. ts, ("model.layers.2.mlp.up_proj.weight", Tensor.FromArray(new float[256 * 128], 256, 128))]);
            return e.Compress(Rtn);
        }, "'model.layers.2.mlp.up_proj.weight' belongs to layer 2", "num_hidden_layers 2 (layers 0..1)", "fix num_hidden_layers")),
        ["extra-layer-gptq"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => [.. ts, ("model.layers.7.input_layernorm.weight", Tensor.FromArray(new float[128], 128))]);
            return e.CompressWithData(e.Text());
        }, "'model.layers.7.input_layernorm.weight' belongs to layer 7", "num_hidden_layers 2")),
        ["extra-layer-rotation-only"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => [.. ts, ("model.layers.2.self_attn.q_proj.weight", Tensor.FromArray(new float[128 * 128], 128, 128))]);
            return e.Compress(RotationOnly);
        }, "'model.layers.2.self_attn.q_proj.weight' belongs to layer 2")),
        ["unknown-tensor-name"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => [.. ts, ("model.layers.0.mlp.experts.0.weight", Tensor.FromArray(new float[4], 4))]);
            return e.Compress(Rtn);
        }, "'model.layers.0.mlp.experts.0.weight' is not a parameter of LlamaForCausalLM", "remove it")),
        ["unexpected-bias-eval"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => [.. ts, ("model.layers.0.self_attn.q_proj.bias", Tensor.FromArray(new float[128], 128))]);
            return e.Eval();
        }, "'model.layers.0.self_attn.q_proj.bias' is not a parameter", "biases")),
        ["vocab-size-not-embedding-rows"] = (Tiny(), new(e =>
        {
            e.EditConfig(c => c["vocab_size"] = 500);
            return e.Compress(Rtn);
        }, "'model.embed_tokens.weight' has 512 rows but config.json's vocab_size is 500", "set vocab_size to 512")),
        ["hidden-not-divisible-by-heads"] = (Tiny(), new(e =>
        {
            e.EditConfig(c =>
            {
                c.Remove("head_dim");
                c["num_attention_heads"] = 3;
                c["num_key_value_heads"] = 3;
            });
            return e.Compress(Rtn);
        }, "hidden_size 128 is not divisible by num_attention_heads 3")),
        ["missing-tensor-rtn"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => ts.Where(t => t.Name != "model.layers.1.mlp.down_proj.weight").ToList());
            return e.Compress(Rtn);
        }, "missing tensor 'model.layers.1.mlp.down_proj.weight' [128, 256]")),
        ["integer-norm-rotation-only"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => ts.Select(t => t.Name == "model.norm.weight" ? (t.Name, Tensor.FromSpan<int>(new int[128], 128)) : t).ToList());
            return e.Compress(RotationOnly);
        }, "'model.norm.weight' has dtype I32", "dequantize")),
        ["tied-lm-head-wrong-shape"] = (Tiny(tie: true), new(e =>
        {
            e.EditTensors(ts => [.. ts, ("lm_head.weight", Tensor.FromArray(new float[100 * 128], 100, 128))]);
            return e.Compress(Rtn);
        }, "'lm_head.weight' has shape [100, 128]", "ties it to the embedding [512, 128]")),
        ["extra-layer-plan"] = (Tiny(), new(e =>
        {
            e.EditTensors(ts => [.. ts, ("model.layers.3.post_attention_layernorm.weight", Tensor.FromArray(new float[128], 128))]);
            return ["plan", "--model", e.Model, "--device-memory", "64MiB", "--seq-len", "8", "--samples", "2", "--gflops", "1"];
        }, "'model.layers.3.post_attention_layernorm.weight' belongs to layer 3")),

        // ---- 3. one strict JSON parser for config.json ------------------------------------------------------------
        ["config-trailing-comma-compress"] = (Tiny(), new(e => TrailingComma(e, e.Compress(Rtn)), "a trailing comma", "no comments, no trailing commas")),
        ["config-comment-compress"] = (Tiny(), new(e => Comment(e, e.Compress(Rtn)), "a comment")),
        ["config-trailing-comma-eval"] = (Tiny(), new(e => TrailingComma(e, e.Eval()), "a trailing comma")),
        ["config-comment-layerwise-eval"] = (Tiny(), new(e => Comment(e, e.Eval("--device-memory", "4MiB")), "a comment")),
        ["config-trailing-comma-inspect"] = (Tiny(), new(e => TrailingComma(e, ["inspect", e.Model]), "a trailing comma")),
        ["config-comment-plan"] = (Tiny(), new(e => Comment(e, ["plan", "--model", e.Model]), "a comment")),
        ["config-not-utf8"] = (Tiny(), new(e =>
        {
            var bytes = System.IO.File.ReadAllBytes(e.ConfigPath).ToList();
            bytes.InsertRange(bytes.IndexOf((byte)'{') + 1, [.. "\"x\": \"caf"u8, 0xE9, .. "\","u8]); // Latin-1 'é'
            System.IO.File.WriteAllBytes(e.ConfigPath, [.. bytes]);
            return e.Compress(Rtn);
        }, "config.json: not valid UTF-8", "regenerate")),

        // ---- 4. recipes -------------------------------------------------------------------------------------------
        ["recipe-yaml-unclosed-flow"] = (Tiny(), new(e => e.Compress("""
            quant_stage:
              quant_modifiers:
                QuantizationModifier: {targets: [Linear, scheme: W4A16}
            """), "recipe.yaml:3:", "not valid YAML", "fix the recipe's syntax")),
        ["recipe-yaml-bad-indentation"] = (Tiny(), new(e => e.Compress("quant_stage:\n  quant_modifiers:\n    QuantizationModifier:\n      targets: [Linear]\n     scheme: W4A16\n"),
            "recipe.yaml:5:6: not valid YAML")),
        ["recipe-yaml-tab"] = (Tiny(), new(e => e.Compress("quant_stage:\n\tquant_modifiers: {}\n"), "recipe.yaml:2:1: not valid YAML", "tab")),
        ["recipe-yaml-sequence-key"] = (Tiny(), new(e => e.Compress("quant_stage:\n  ? [a, b]\n  : x\n"), "recipe.yaml:2:5: a key must be a plain name")),
        ["recipe-target-typo-pattern"] = (Tiny(), new(e => e.Compress("""
            quant_stage:
              quant_modifiers:
                QuantizationModifier: {targets: ["model.layers.*.mlp.up_prj"], scheme: W4A16}
            """), "target 'model.layers.*.mlp.up_prj' matches no module", "nearest: model.layers.*.mlp.up_proj", "fix or remove it")),
        ["recipe-target-typo-class"] = (Tiny(), new(e => e.Compress("""
            quant_stage:
              quant_modifiers:
                QuantizationModifier: {targets: [Linaer], scheme: W4A16}
            """), "recipe.yaml:3: target 'Linaer' matches no module", "nearest: Linear")),
        ["recipe-ignore-matches-nothing"] = (Tiny(), new(e => e.Compress("""
            quant_stage:
              quant_modifiers:
                QuantizationModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head, "re:.*mlp.gate$"]}
            """), "ignore 're:.*mlp.gate$' matches no module", "nearest:")),
        ["recipe-quantizes-nothing"] = (Tiny(), new(e => e.Compress("""
            quant_stage:
              quant_modifiers:
                QuantizationModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head, "re:model[.]layers[.]"]}
            """), "quantizes 0 linears", "ignore fewer")),

        // ---- 5. calibration and evaluation data -------------------------------------------------------------------
        ["dataset-nul-byte"] = (Tiny(), new(e => e.CompressWithData(e.File("data.txt", [.. "line one\nline two \0 here\n"u8])),
            "data.txt:2: holds a NUL byte (offset 18)", "not text")),
        ["dataset-not-utf8"] = (Tiny(), new(e => e.CompressWithData(e.File("latin1.txt", [.. "caf"u8, 0xE9, .. "\nna\u00efve\n"u8])),
            "latin1.txt:1: not valid UTF-8 (byte 0xE9 at offset 3)", "convert the file to UTF-8")),
        ["dataset-jsonl-not-utf8"] = (Tiny(), new(e => e.CompressWithData(e.File("data.jsonl", [.. "{\"text\": \"ok\"}\n{\"text\": \"b"u8, 0xFF, .. "d\"}\n"u8])),
            "data.jsonl:2: not valid UTF-8 (byte 0xFF at offset 26)")),
        ["dataset-folder"] = (Tiny(), new(e =>
        {
            Directory.CreateDirectory(Path.Combine(e.Root, "data"));
            e.File("data/notes.txt", "text");
            return e.CompressWithData(Path.Combine(e.Root, "data"));
        }, "a folder without *.parquet files")),
        ["dataset-json-array-of-strings"] = (Tiny(), new(e => e.CompressWithData(e.File("data.json", """[{"text": "a story"}, "just a string"]""")),
            "data.json: record 1 (from 0): expected a JSON object with \"text\" or \"input_ids\", got a string")),
        ["dataset-json-array-truncated"] = (Tiny(), new(e => e.CompressWithData(e.File("data.json", "[\n{\"input_ids\": [1, 2, 3]},\n{\"input_ids\": [4, ")),
            "data.json:3: not a valid JSON array")),
        ["dataset-json-array-id-out-of-vocab"] = (Tiny(), new(e => e.CompressWithData(e.File("ids.json", """[{"input_ids": [1, 2, 3]}, {"input_ids": [4, 512]}]""")),
            "ids.json: record 1 (from 0): token id 512 is not in [0, 512)")),
        ["dataset-jsonl-negative-id"] = (Tiny(), new(e => e.CompressWithData(e.File("ids.jsonl", "{\"input_ids\": [5, 6]}\n{\"input_ids\": [-1]}\n")),
            "ids.jsonl:2: token id -1 is not in [0, 512)")),
        ["eval-text-folder"] = (Tiny(), new(e =>
        {
            Directory.CreateDirectory(Path.Combine(e.Root, "texts"));
            return ["eval", "--model", e.Model, "--text", Path.Combine(e.Root, "texts"), "--seq-len", "8", "--windows", "1"];
        }, "texts: is a folder, not a text file", "--text")),
        ["eval-text-nul"] = (Tiny(), new(e => ["eval", "--model", e.Model, "--text", e.File("bin.txt", [.. "ab\0"u8]), "--seq-len", "8", "--windows", "1"],
            "bin.txt:1: holds a NUL byte (offset 2)")),
        ["eval-text-not-utf8-layerwise"] = (Tiny(), new(e => ["eval", "--model", e.Model, "--text", e.File("x.txt", [.. "ok\nok\n"u8, 0xC3, 0x28]), "--seq-len", "8", "--windows", "1", "--device-memory", "4MiB"],
            "x.txt:3: not valid UTF-8 (byte 0xC3 at offset 6)")),
    };

    // The config text with a comma after its last member: System.Text.Json reports the token after the comma, the
    // closing brace (last line, column 1).
    private static string[] TrailingComma(Env e, string[] args)
    {
        var text = e.EditConfig(_ => { });
        var lines = text.Split('\n');
        lines[^2] += ",";
        System.IO.File.WriteAllText(e.ConfigPath, string.Join('\n', lines));
        s_expectedPosition.Value = $"config.json:{lines.Length}:1: not valid JSON";
        return args;
    }

    // A line comment inserted as the config's second line, indented two spaces: reported at its '/' (line 2, column 3).
    private static string[] Comment(Env e, string[] args)
    {
        var text = e.EditConfig(_ => { });
        var lines = text.Split('\n').ToList();
        lines.Insert(1, "  // exported by hand");
        System.IO.File.WriteAllText(e.ConfigPath, string.Join('\n', lines));
        s_expectedPosition.Value = "config.json:2:3: not valid JSON";
        return args;
    }

    private static readonly AsyncLocal<string?> s_expectedPosition = new();

    public static TheoryData<string> Cases() => [.. s_cases.Keys];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Bad_input_is_refused_before_work_with_one_line(string name)
    {
        var (options, c) = s_cases[name];
        using var temp = new TempDir();
        var env = new Env(temp, options);
        s_expectedPosition.Value = null;
        var args = c.Arrange(env);
        var (code, _, err) = CliHarness.Run(args);
        var errors = CliHarness.Lines(err).Where(l => l.StartsWith("offload:", StringComparison.Ordinal)).ToArray();
        Assert.True(code == CliRunner.UsageError, $"exit {code}, stderr: {err}");
        var line = Assert.Single(errors);
        foreach (var m in c.Mentions) Assert.True(line.Contains(m, StringComparison.Ordinal), $"'{m}' not in: {line}");
        if (s_expectedPosition.Value is { } position) Assert.True(line.Contains(position, StringComparison.Ordinal), $"'{position}' not in: {line}");
        Assert.DoesNotContain("Exception", err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(env.Out), $"{env.Out} exists");
        Assert.False(Directory.Exists(env.Out + ".offload-work"), "the work folder exists");
        Assert.Empty(Directory.GetDirectories(temp.Path, "out*"));
    }

    [Fact]
    public void A_tied_model_with_ignore_lm_head_compresses()
    {
        // llm-compressor's usual `ignore: [lm_head]` on a model with tied embeddings (no lm_head tensor): the module
        // exists conceptually and the ignore entry matches it.
        using var temp = new TempDir();
        var env = new Env(temp, Tiny(tie: true));
        Assert.False(File.Exists(Path.Combine(env.Model, "lm_head.weight")));
        var (code, stdout, err) = CliHarness.Run(env.Compress(Rtn));
        Assert.True(code == 0, err);
        Assert.Contains("14 quantized linears", stdout);
    }

    [Fact]
    public void A_json_array_dataset_is_read_as_records()
    {
        using var temp = new TempDir();
        var env = new Env(temp, Tiny());
        var ids = string.Join(", ", Enumerable.Range(1, 20));
        var data = env.File("calib.json", $"[\n  {{\"input_ids\": [{ids}]}},\n  {{\"input_ids\": [{ids}]}}\n]\n");
        var (code, _, err) = CliHarness.Run(env.CompressWithData(data));
        Assert.True(code == 0, err);
        Assert.Contains("JSON array input_ids", err);
        Assert.True(Directory.Exists(env.Out));
    }

    [Fact]
    public void A_non_finite_value_computed_for_the_output_writes_nothing_and_fails_the_run()
    {
        using var temp = new TempDir();
        var env = new Env(temp, Tiny());
        var config = Offload.Model.Config.LlamaConfig.Load(env.Model);
        var plan = new QuantizationPlan([]);
        using var checkpoint = SafetensorsCheckpoint.Open(env.Model);
        Tensor Dense(string name)
        {
            using var t = checkpoint.Get(name);
            var copy = t.Clone();
            if (name == "model.layers.1.post_attention_layernorm.weight") copy.Span<float>()[5] = float.NaN;
            return copy;
        }
        var e = Assert.Throws<NonFiniteOutputException>(() => CompressedTensorsWriter.Write(env.Out, env.Model, plan, Dense, _ => throw new InvalidOperationException()));
        Assert.Equal("model.layers.1.post_attention_layernorm.weight: 1 non-finite value (NaN/Inf) computed for the output; nothing was written — quantize that module with a larger dampening_frac or ignore it, then run again", e.Message);
        Assert.False(Directory.Exists(env.Out));
        Assert.Empty(Directory.GetDirectories(temp.Path, "out*"));

        // Inside a compress run it is a failure of the run: exit code 1, one line naming the tensor.
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        int code;
        try { code = CliRunner.Report(new LayerFailedException("layer 1", "write", e)); }
        finally { Console.SetError(old); }
        Assert.Equal(CliRunner.RunFailure, code);
        Assert.StartsWith("offload: layer 1, phase write: model.layers.1.post_attention_layernorm.weight: 1 non-finite value", err.ToString());
    }
}
