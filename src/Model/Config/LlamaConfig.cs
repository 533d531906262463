using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Protocol;

namespace Offload.Model.Config;

/// <summary>
/// The Hugging Face config.json of a Llama-family causal LM (`LlamaForCausalLM`, `MistralForCausalLM`,
/// `Qwen2ForCausalLM`, `Qwen3ForCausalLM`), with the keys and defaults transformers uses. Parse with <see cref="Load"/> or
/// <see cref="Parse"/>; write with <see cref="ToJson"/>. Every instance is validated on construction by the parser and
/// by <see cref="Validate"/>.
/// </summary>
public sealed record LlamaConfig
{
    /// <summary>Architecture class names accepted in `architectures`, in the order of <see cref="ModelArchitecture"/>.</summary>
    public static readonly IReadOnlyList<string> SupportedArchitectures = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"];

    public const string FileName = "config.json";

    public ModelArchitecture Architecture { get; init; } = ModelArchitecture.Llama;
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int NumHiddenLayers { get; init; }
    public int NumAttentionHeads { get; init; }
    public int NumKeyValueHeads { get; init; }
    public int HeadDim { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }
    public int VocabSize { get; init; }

    /// <summary>`torch_dtype` (or transformers 5's `dtype`): the dtype the weights are stored in.</summary>
    public DType TorchDtype { get; init; } = DType.F32;

    /// <summary>Llama's and Qwen3's `attention_bias`: biases on q/k/v/o. Qwen2 always has q/k/v biases (see <see cref="QkvBias"/>).</summary>
    public bool AttentionBias { get; init; }

    /// <summary>Llama's `mlp_bias`: biases on gate/up/down.</summary>
    public bool MlpBias { get; init; }

    /// <summary>Mistral's `sliding_window`, or Qwen2's when `use_sliding_window` is true; null = full causal attention.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Qwen2's `max_window_layers`: layers with index ≥ this use the sliding window (Qwen3: kept for the round trip; no window).</summary>
    public int MaxWindowLayers { get; init; }

    public int? BosTokenId { get; init; }
    public int[] EosTokenIds { get; init; } = [];

    // ---- derived ---------------------------------------------------------------------------------------------

    /// <summary>The class name written in `architectures`.</summary>
    public string ArchitectureName => SupportedArchitectures[(int)Architecture];

    /// <summary>The `model_type` key ("llama", "mistral", "qwen2", "qwen3").</summary>
    public string ModelType => Architecture switch
    {
        ModelArchitecture.Mistral => "mistral",
        ModelArchitecture.Qwen2 => "qwen2",
        ModelArchitecture.Qwen3 => "qwen3",
        _ => "llama",
    };

    /// <summary>Width of q_proj's output: heads × head_dim.</summary>
    public int QDim => NumAttentionHeads * HeadDim;

    /// <summary>Width of k_proj's and v_proj's outputs: kv heads × head_dim.</summary>
    public int KvDim => NumKeyValueHeads * HeadDim;

    /// <summary>Query heads per key/value head (GQA group size).</summary>
    public int GroupSize => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>Whether q/k/v projections carry a bias (Qwen2 always; Llama and Qwen3 when attention_bias).</summary>
    public bool QkvBias => Architecture == ModelArchitecture.Qwen2 || (HasAttentionBiasKey && AttentionBias);

    /// <summary>Whether o_proj carries a bias (Llama and Qwen3 with attention_bias only).</summary>
    public bool OProjBias => HasAttentionBiasKey && AttentionBias;

    /// <summary>
    /// Whether each attention has Qwen3's q_norm / k_norm: an RMSNorm of weight [head_dim] (eps rms_norm_eps) applied
    /// to every query and key head after q_proj / k_proj and before RoPE.
    /// </summary>
    public bool QkNorm => Architecture == ModelArchitecture.Qwen3;

    // The architectures whose config carries Llama's attention_bias switch.
    private bool HasAttentionBiasKey => Architecture is ModelArchitecture.Llama or ModelArchitecture.Qwen3;

    /// <summary>Whether gate/up/down carry biases (Llama with mlp_bias only).</summary>
    public bool MlpBiasEnabled => Architecture == ModelArchitecture.Llama && MlpBias;

    /// <summary>The sliding attention window of layer <paramref name="layer"/>, or null for full causal attention.</summary>
    public int? SlidingWindowOf(int layer) => Architecture switch
    {
        ModelArchitecture.Mistral => SlidingWindow,
        ModelArchitecture.Qwen2 => SlidingWindow is { } w && layer >= MaxWindowLayers ? w : null,
        _ => null,
    };

    // ---- parsing ---------------------------------------------------------------------------------------------

    /// <summary>Reads and validates a config.json (a folder is taken to hold one).</summary>
    public static LlamaConfig Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, FileName);
        if (!File.Exists(path)) throw new ModelConfigException($"{path}: config.json not found; point --model at a Hugging Face checkpoint folder");
        return Parse(ReadText(path), path);
    }

    /// <summary>
    /// The raw JSON object of a config.json, read by the one strict parser every reader of config.json uses (no comments,
    /// no trailing commas, valid UTF-8): a defect is a <see cref="ModelConfigException"/> naming the file, line and column.
    /// </summary>
    public static JsonObject ReadJsonObject(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, FileName);
        if (!File.Exists(path)) throw new ModelConfigException($"{path}: config.json not found; point --model at a Hugging Face checkpoint folder");
        var text = ReadText(path);
        using var doc = ParseStrict(text, path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelConfigException($"{path}: must be a JSON object of model settings");
        return JsonObject.Create(doc.RootElement.Clone())!;
    }

    // config.json as strict UTF-8 text (invalid bytes are named, not replaced).
    private static string ReadText(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelConfigException($"{path}: cannot be read ({e.Message.Split('\n')[0].TrimEnd('.')}); check the file's permissions");
        }
        try
        {
            var span = bytes.AsSpan();
            if (span.StartsWith("\uFEFF"u8)) span = span[3..];
            return new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(span);
        }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new ModelConfigException($"{path}: not valid UTF-8 (at byte {e.Index}); config.json must be UTF-8 JSON text — fix or regenerate it");
        }
    }

    /// <summary>
    /// Parses config.json text strictly (System.Text.Json's defaults: no comments, no trailing commas); an error names
    /// <paramref name="source"/> with the 1-based line and column.
    /// </summary>
    public static JsonDocument ParseStrict(string json, string source = FileName)
    {
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            var (line, column) = Position(json, ex.LineNumber, ex.BytePositionInLine);
            throw new ModelConfigException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"{source}:{line}:{column}: not valid JSON ({Reason(ex)}); config.json must be strict JSON (no comments, no trailing commas) — fix or regenerate it"));
        }
    }

    // System.Text.Json reports a 0-based line and a 0-based UTF-8 byte offset in it: 1-based line and character column.
    private static (long Line, long Column) Position(string json, long? lineNumber, long? bytePosition)
    {
        var line = lineNumber ?? 0;
        var bytes = bytePosition ?? 0;
        var start = 0;
        for (var l = 0L; l < line; l++)
        {
            var nl = json.IndexOf('\n', start);
            if (nl < 0) break;
            start = nl + 1;
        }
        var end = json.IndexOf('\n', start);
        var text = end < 0 ? json[start..] : json[start..end];
        long column = 0, seen = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            if (seen >= bytes) break;
            seen += rune.Utf8SequenceLength;
            column++;
        }
        return (line + 1, column + 1);
    }

    private static string Reason(JsonException ex)
    {
        var m = ex.Message;
        if (m.Contains("trailing comma", StringComparison.OrdinalIgnoreCase)) return "a trailing comma";
        if (m.Contains("comment", StringComparison.OrdinalIgnoreCase) || m.Contains("'/' is invalid", StringComparison.Ordinal)) return "a comment";
        if (m.Contains("end of data", StringComparison.OrdinalIgnoreCase) || m.Contains("Expected depth to be zero", StringComparison.Ordinal)) return "the text ends early";
        var cut = m.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut < 0) cut = m.IndexOf(" LineNumber:", StringComparison.Ordinal);
        var reason = (cut < 0 ? m : m[..cut]).ReplaceLineEndings(" ").Trim().TrimEnd('.');
        return reason.Replace("Change the reader options", "", StringComparison.Ordinal).Trim().TrimEnd('.');
    }

    /// <summary>Parses and validates config.json text; <paramref name="source"/> names it in error messages.</summary>
    public static LlamaConfig Parse(string json, string source = FileName)
    {
        var doc = ParseStrict(json, source);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ModelConfigException($"{source}: must be a JSON object of model settings");
            var r = new ConfigReader(source, doc.RootElement);
            var arch = ReadArchitecture(r);
            var hidden = r.RequiredPositiveInt("hidden_size");
            var heads = r.RequiredPositiveInt("num_attention_heads");
            var defaults = Defaults(arch);
            var ropeTheta = r.PositiveDouble("rope_theta", defaults.RopeTheta);
            RopeScaling? scaling = null;
            if (r.Get("rope_scaling") is { } rs) scaling = ReadRopeScaling(r, "rope_scaling", rs, ref ropeTheta);
            if (r.Get("rope_parameters") is { } rp) scaling = ReadRopeScaling(r, "rope_parameters", rp, ref ropeTheta);
            var dtypeName = r.String("torch_dtype") ?? r.String("dtype") ?? "float32";
            if (!DTypeNames.TryParseTorchName(dtypeName, out var dtype) || dtype is not (DType.F32 or DType.F16 or DType.BF16))
                throw new ModelConfigException($"{source}: torch_dtype '{dtypeName}' is not supported (supported: float32, float16, bfloat16)");
            var act = r.String("hidden_act") ?? "silu";
            if (act != "silu")
                throw new ModelConfigException($"{source}: hidden_act '{act}' is not supported (supported: silu)");
            int? window = arch switch
            {
                ModelArchitecture.Mistral => r.OptionalPositiveInt("sliding_window"),
                ModelArchitecture.Qwen2 when r.Bool("use_sliding_window", false) => r.OptionalPositiveInt("sliding_window") ?? 4096,
                ModelArchitecture.Qwen3 when r.Bool("use_sliding_window", false) =>
                    throw new ModelConfigException($"{source}: use_sliding_window true is not supported for Qwen3ForCausalLM (only full causal attention); set it to false"),
                _ => null,
            };
            if (!r.Has("head_dim") && defaults.HeadDim is null && hidden % heads != 0)
                throw new ModelConfigException($"{source}: hidden_size {hidden} is not divisible by num_attention_heads {heads}; fix config.json (or give head_dim)");
            var config = new LlamaConfig
            {
                Architecture = arch,
                HiddenSize = hidden,
                IntermediateSize = r.RequiredPositiveInt("intermediate_size"),
                NumHiddenLayers = r.RequiredPositiveInt("num_hidden_layers"),
                NumAttentionHeads = heads,
                NumKeyValueHeads = r.PositiveInt("num_key_value_heads", heads),
                HeadDim = r.PositiveInt("head_dim", defaults.HeadDim ?? hidden / heads),
                RmsNormEps = r.PositiveDouble("rms_norm_eps", defaults.RmsNormEps),
                RopeTheta = ropeTheta,
                RopeScaling = scaling,
                MaxPositionEmbeddings = r.PositiveInt("max_position_embeddings", defaults.MaxPositionEmbeddings),
                TieWordEmbeddings = r.Bool("tie_word_embeddings", false),
                VocabSize = r.RequiredPositiveInt("vocab_size"),
                TorchDtype = dtype,
                AttentionBias = (arch is ModelArchitecture.Llama or ModelArchitecture.Qwen3) && r.Bool("attention_bias", false),
                MlpBias = arch == ModelArchitecture.Llama && r.Bool("mlp_bias", false),
                SlidingWindow = window,
                MaxWindowLayers = arch is ModelArchitecture.Qwen2 or ModelArchitecture.Qwen3 ? r.NonNegativeInt("max_window_layers", 28) : 0,
                BosTokenId = r.Has("bos_token_id") ? r.IntOrIntList("bos_token_id") is [var b, ..] ? b : null : null,
                EosTokenIds = r.IntOrIntList("eos_token_id"),
            };
            config.Validate(source);
            return config;
        }
    }

    private static ModelArchitecture ReadArchitecture(ConfigReader r)
    {
        var supported = string.Join(", ", SupportedArchitectures);
        if (r.Get("architectures") is { } archs)
        {
            if (archs.ValueKind != JsonValueKind.Array || archs.GetArrayLength() == 0)
                throw r.Bad("architectures", "a non-empty list of class names", archs);
            var name = archs[0].ValueKind == JsonValueKind.String ? archs[0].GetString()! : archs[0].GetRawText();
            for (var i = 0; i < SupportedArchitectures.Count; i++)
                if (SupportedArchitectures[i] == name) return (ModelArchitecture)i;
            throw new ModelConfigException($"{r.Source}: architecture '{name}' is not supported (supported: {supported})");
        }
        return r.String("model_type") switch
        {
            "llama" => ModelArchitecture.Llama,
            "mistral" => ModelArchitecture.Mistral,
            "qwen2" => ModelArchitecture.Qwen2,
            "qwen3" => ModelArchitecture.Qwen3,
            null => throw new ModelConfigException($"{r.Source}: neither 'architectures' nor 'model_type' is set; add \"architectures\": [\"LlamaForCausalLM\"] (supported: {supported})"),
            var other => throw new ModelConfigException($"{r.Source}: model_type '{other}' is not supported (supported: {supported})"),
        };
    }

    private static RopeScaling? ReadRopeScaling(ConfigReader r, string key, JsonElement e, ref double ropeTheta)
    {
        if (e.ValueKind != JsonValueKind.Object) throw r.Bad(key, "an object such as {\"rope_type\": \"llama3\", \"factor\": 8.0, ...}", e);
        var sub = new ConfigReader(r.Source, e);
        if (sub.Get("rope_theta") is { } theta) ropeTheta = r.PositiveDouble($"{key}.rope_theta", theta);
        var type = sub.String("rope_type") ?? sub.String("type") ?? "default";
        double Factor() => sub.Get("factor") is { } f ? r.PositiveDouble($"{key}.factor", f) : throw r.Missing($"{key}.factor", "the scaling factor");
        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling(RopeType.Linear, Factor()),
            "llama3" => new RopeScaling(RopeType.Llama3, Factor(),
                sub.Get("low_freq_factor") is { } lo ? r.PositiveDouble($"{key}.low_freq_factor", lo) : throw r.Missing($"{key}.low_freq_factor", "llama3 rope scaling needs it"),
                sub.Get("high_freq_factor") is { } hi ? r.PositiveDouble($"{key}.high_freq_factor", hi) : throw r.Missing($"{key}.high_freq_factor", "llama3 rope scaling needs it"),
                sub.Get("original_max_position_embeddings") is { } om ? r.PositiveInt($"{key}.original_max_position_embeddings", om) : throw r.Missing($"{key}.original_max_position_embeddings", "llama3 rope scaling needs it")),
            _ => throw new ModelConfigException($"{r.Source}: {key}.rope_type '{type}' is not supported (supported: default, linear, llama3)"),
        };
    }

    // transformers' config-class defaults; HeadDim null = hidden_size / num_attention_heads (Qwen3Config defaults to 128).
    private static (double RopeTheta, double RmsNormEps, int MaxPositionEmbeddings, int? HeadDim) Defaults(ModelArchitecture arch) => arch switch
    {
        ModelArchitecture.Mistral => (10000, 1e-6, 4096 * 32, null),
        ModelArchitecture.Qwen2 => (10000, 1e-6, 32768, null),
        ModelArchitecture.Qwen3 => (10000, 1e-6, 32768, 128),
        _ => (10000, 1e-6, 2048, null),
    };

    /// <summary>Checks the shape rules the forward pass relies on; throws <see cref="ModelConfigException"/> naming <paramref name="source"/>.</summary>
    public void Validate(string source = FileName)
    {
        void Positive(string key, double v)
        {
            if (!(v > 0) || !double.IsFinite(v)) throw new ModelConfigException($"{source}: '{key}' must be positive, got {ConfigReader.Format(v)}");
        }
        Positive("hidden_size", HiddenSize);
        Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("num_key_value_heads", NumKeyValueHeads);
        Positive("head_dim", HeadDim);
        Positive("vocab_size", VocabSize);
        Positive("rms_norm_eps", RmsNormEps);
        Positive("rope_theta", RopeTheta);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ModelConfigException($"{source}: num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}; fix config.json");
        if (HeadDim % 2 != 0)
            throw new ModelConfigException($"{source}: head_dim {HeadDim} is odd; rotary embeddings need an even head_dim");
        if (TorchDtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new ModelConfigException($"{source}: torch_dtype {TorchDtype.ToTorchName()} is not supported (supported: float32, float16, bfloat16)");
        if (RopeScaling is { Type: RopeType.Llama3 } s && !(s.HighFreqFactor > s.LowFreqFactor))
            throw new ModelConfigException($"{source}: rope_scaling.high_freq_factor ({ConfigReader.Format(s.HighFreqFactor)}) must exceed low_freq_factor ({ConfigReader.Format(s.LowFreqFactor)})");
        if (RopeScaling is { } sc) Positive("rope_scaling.factor", sc.Factor);
    }

    // ---- writing ---------------------------------------------------------------------------------------------

    /// <summary>config.json text with Hugging Face key names; <paramref name="extra"/> keys are appended as given.</summary>
    public string ToJson(IReadOnlyDictionary<string, JsonNode?>? extra = null)
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(ArchitectureName),
            ["model_type"] = ModelType,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["head_dim"] = HeadDim,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["vocab_size"] = VocabSize,
            ["torch_dtype"] = TorchDtype.ToTorchName(),
        };
        if (RopeScaling is { } s)
        {
            var rs = new JsonObject { ["rope_type"] = s.TypeName, ["factor"] = s.Factor };
            if (s.Type == RopeType.Llama3)
            {
                rs["low_freq_factor"] = s.LowFreqFactor;
                rs["high_freq_factor"] = s.HighFreqFactor;
                rs["original_max_position_embeddings"] = s.OriginalMaxPositionEmbeddings;
            }
            o["rope_scaling"] = rs;
        }
        else
        {
            o["rope_scaling"] = null;
        }
        switch (Architecture)
        {
            case ModelArchitecture.Llama:
                o["attention_bias"] = AttentionBias;
                o["mlp_bias"] = MlpBias;
                break;
            case ModelArchitecture.Mistral:
                o["sliding_window"] = SlidingWindow;
                break;
            case ModelArchitecture.Qwen2:
                o["use_sliding_window"] = SlidingWindow is not null;
                o["sliding_window"] = SlidingWindow;
                o["max_window_layers"] = MaxWindowLayers;
                break;
            case ModelArchitecture.Qwen3:
                o["attention_bias"] = AttentionBias;
                o["use_sliding_window"] = false;
                o["sliding_window"] = null;
                o["max_window_layers"] = MaxWindowLayers;
                break;
        }
        if (BosTokenId is { } bos) o["bos_token_id"] = bos;
        if (EosTokenIds.Length == 1) o["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Length > 1) o["eos_token_id"] = new JsonArray(EosTokenIds.Select(e => (JsonNode?)e).ToArray());
        if (extra is not null)
            foreach (var (k, v) in extra) o[k] = v?.DeepClone();
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
