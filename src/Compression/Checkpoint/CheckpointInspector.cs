using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Model.Config;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;

namespace Offload.Compression.Checkpoint;

/// <summary>
/// Reads a checkpoint folder for `offload inspect` without loading a weight: config.json (any architecture: kept as
/// raw JSON), the safetensors headers (one file or an index with shards), and compressed-tensors' quantization_config
/// and transform_config (plus the values of the KV-cache scales k_scale / v_scale, a few numbers per layer). Also turns
/// quantization and transform arguments into one-line descriptions.
/// </summary>
public static class CheckpointInspector
{
    /// <summary>The config.json keys shown as the architecture summary, in this order, when present.</summary>
    public static IReadOnlyList<string> ArchitectureKeys { get; } =
    [
        "architectures", "model_type", "num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
        "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings", "torch_dtype", "tie_word_embeddings",
        "rope_theta", "rope_scaling", "rms_norm_eps", "attention_bias", "mlp_bias", "sliding_window",
    ];

    /// <summary>Inspects <paramref name="dir"/>; a missing folder, config.json or safetensors raises <see cref="CompressedCheckpointException"/> (one line).</summary>
    public static CheckpointInspection Inspect(string dir)
    {
        if (!Directory.Exists(dir))
            throw new CompressedCheckpointException($"{dir}: folder not found; pass a Hugging Face or compressed-tensors checkpoint folder (config.json + *.safetensors)");
        var configPath = Path.Combine(dir, LlamaConfig.FileName);
        if (!File.Exists(configPath))
            throw new CompressedCheckpointException($"{dir}: no config.json; pass a Hugging Face or compressed-tensors checkpoint folder");
        var config = LlamaConfig.ReadJsonObject(configPath);

        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        var files = checkpoint.Files.Select(f => new ShardFileSummary(Path.GetFileName(f.Path), f.Length, f.Tensors.Count)).ToArray();
        var tensors = checkpoint.Tensors.ToArray();
        var quantization = config["quantization_config"] as JsonObject;
        // compressed-tensors nests transform_config in quantization_config; accept a top-level one too. {} means none.
        var transform = quantization?["transform_config"] as JsonObject ?? config["transform_config"] as JsonObject;
        if (transform is not null && transform.Count == 0) transform = null;
        return new CheckpointInspection(Path.GetFullPath(dir), config, files,
            checkpoint.IndexPath is null ? null : Path.GetFileName(checkpoint.IndexPath), tensors, Group(tensors), quantization, transform)
        {
            Recipe = File.Exists(Path.Combine(dir, CompressedTensorsWriter.RecipeFileName)) ? File.ReadAllText(Path.Combine(dir, CompressedTensorsWriter.RecipeFileName)) : null,
            NeedsOffload = NeedsOffload(config, transform),
            KvCacheScales = KvScales(checkpoint, tensors),
        };
    }

    // Every self_attn k_scale / v_scale with its values (read: one value per KV head at most).
    private static IReadOnlyList<(string, DType, IReadOnlyList<long>, float[])> KvScales(SafetensorsCheckpoint checkpoint, IReadOnlyList<TensorDescriptor> tensors)
    {
        var result = new List<(string, DType, IReadOnlyList<long>, float[])>();
        foreach (var t in tensors)
        {
            if (!t.Name.EndsWith(".self_attn.k_scale", StringComparison.Ordinal) && !t.Name.EndsWith(".self_attn.v_scale", StringComparison.Ordinal)) continue;
            if (t.DType is not (DType.F32 or DType.BF16 or DType.F16) || t.ElementCount > 4096) continue;
            using var v = checkpoint.Get(t.Name);
            result.Add((t.Name, t.DType, t.Shape.ToArray(), v.ToFloatArray()));
        }
        return result;
    }

    /// <summary>
    /// The transform groups compressed-tensors cannot rebuild (spec §4): type hadamard at a size that is not a power of
    /// two (Offload's K·2^m, recipe key offload_kron_hadamard) and Offload's random-orthogonal. The size is the group's
    /// head_dim, else intermediate_size for a group applied to down_proj's input, else hidden_size.
    /// </summary>
    public static IReadOnlyList<string> NeedsOffload(JsonObject config, JsonObject? transform)
    {
        var reasons = new List<string>();
        if (transform?["config_groups"] is not JsonObject groups) return reasons;
        foreach (var (name, node) in groups)
        {
            if (node is not JsonObject scheme) continue;
            var type = Str(scheme, "type");
            if (type == "random-orthogonal")
            {
                reasons.Add($"transform_config {name}: random-orthogonal is an Offload transform type; compressed-tensors cannot build it");
                continue;
            }
            if (type != "hadamard") continue;
            long size;
            if (scheme["head_dim"] is JsonValue hd && hd.TryGetValue<long>(out var h)) size = h;
            else
            {
                var down = scheme["apply"] is JsonArray apply && apply.Any(e => e is JsonObject a && Str(a, "location") == "input" && List(a["targets"]).Contains("down_proj", StringComparison.Ordinal));
                var key = down ? "intermediate_size" : "hidden_size";
                if (config[key] is not JsonValue v || !v.TryGetValue<long>(out size)) continue;
            }
            if (size > 0 && (size & (size - 1)) == 0) continue;
            reasons.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"transform_config {name}: hadamard at size {size} is not a power of two (Offload's K·2^m Hadamard); compressed-tensors builds only 2^n, so loading this checkpoint needs Offload"));
        }
        return reasons;
    }

    /// <summary>The modifier names of a recipe's text ("SpinQuantModifier, GPTQModifier"), in order, without parsing it.</summary>
    public static IReadOnlyList<string> RecipeModifiers(string recipe)
    {
        var names = new List<string>();
        foreach (var raw in recipe.Split('\n'))
        {
            var line = raw.Trim();
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) continue;
            var key = line[..colon];
            if (key.EndsWith("Modifier", StringComparison.Ordinal) && key.All(char.IsLetterOrDigit)) names.Add(key);
        }
        return names;
    }

    /// <summary>Groups tensors by decoder layer ("model.layers.N") or, outside the layers, by module; embeddings first, layers in order, then the rest by name.</summary>
    public static IReadOnlyList<TensorGroupSummary> Group(IReadOnlyList<TensorDescriptor> tensors)
    {
        var groups = new Dictionary<string, (int Layer, List<TensorDescriptor> Items)>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            var layer = ModuleNames.LayerIndexOf(t.Name);
            var key = layer >= 0 ? ModuleNames.Layer(layer) : ModuleOf(t.Name);
            if (!groups.TryGetValue(key, out var g)) groups[key] = g = (layer, new List<TensorDescriptor>());
            g.Items.Add(t);
        }
        return groups
            .OrderBy(p => p.Value.Layer >= 0 ? p.Value.Layer : p.Key.Contains("embed", StringComparison.Ordinal) ? -1 : int.MaxValue)
            .ThenBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => new TensorGroupSummary(p.Key, p.Value.Layer, p.Value.Items.Count, p.Value.Items.Sum(t => t.ElementCount), p.Value.Items.Sum(t => t.ByteLength),
                p.Value.Items.GroupBy(t => t.DType).Select(d => (d.Key, d.Count())).OrderByDescending(d => d.Item2).ThenBy(d => d.Key).ToArray()))
            .ToArray();
    }

    /// <summary>"model.norm.weight" → "model.norm"; a name without a dot is its own module.</summary>
    private static string ModuleOf(string name)
    {
        var dot = name.LastIndexOf('.');
        return dot < 0 ? name : name[..dot];
    }

    /// <summary>
    /// A QuantizationArgs object in one line: "int4 symmetric group 128, actorder static, static" or
    /// "int8 symmetric token, dynamic"; "none" for null.
    /// </summary>
    public static string DescribeArgs(JsonNode? args)
    {
        if (args is not JsonObject a) return "none";
        var sb = new StringBuilder();
        sb.Append(Str(a, "type") ?? "int").Append(Str(a, "num_bits") ?? "?");
        if (a["symmetric"] is JsonValue sym && sym.TryGetValue<bool>(out var s)) sb.Append(s ? " symmetric" : " asymmetric");
        if (Str(a, "strategy") is { } strategy)
        {
            sb.Append(' ').Append(strategy);
            if (strategy == "group" && Str(a, "group_size") is { } gs) sb.Append(' ').Append(gs);
            if (strategy == "block" && a["block_structure"] is JsonArray bs) sb.Append(' ').Append(string.Join("×", bs.Select(x => x?.ToJsonString())));
        }
        if (Str(a, "actorder") is { } actorder) sb.Append(", actorder ").Append(actorder);
        if (a["dynamic"] is JsonValue dyn)
        {
            if (dyn.TryGetValue<bool>(out var d)) sb.Append(d ? ", dynamic" : ", static");
            else if (dyn.TryGetValue<string>(out var ds)) sb.Append(", dynamic ").Append(ds);
        }
        if (Str(a, "observer") is { } obs) sb.Append(", observer ").Append(obs);
        if (Str(a, "scale_dtype") is { } sd) sb.Append(", scales ").Append(sd);
        return sb.ToString();
    }

    /// <summary>One transform_config apply entry: "weight_input inverse: re:.*q_proj$, lm_head (ignore …)".</summary>
    public static string DescribeApply(JsonNode? apply)
    {
        if (apply is not JsonObject a) return "?";
        var sb = new StringBuilder(Str(a, "location") ?? "?");
        if (a["inverse"] is JsonValue inv && inv.TryGetValue<bool>(out var i) && i) sb.Append(" inverse");
        sb.Append(": ").Append(List(a["targets"]));
        if (a["ignore"] is JsonArray ig && ig.Count > 0) sb.Append(" (ignore ").Append(List(ig)).Append(')');
        return sb.ToString();
    }

    /// <summary>A transform scheme's header: "hadamard, head_dim 128, randomize false, precision torch.float64".</summary>
    public static string DescribeTransformScheme(JsonNode? scheme)
    {
        if (scheme is not JsonObject s) return "?";
        var parts = new List<string> { Str(s, "type") ?? "?" };
        foreach (var key in new[] { "head_dim", "randomize", "requires_grad", "precision" })
            if (Str(s, key) is { } v) parts.Add($"{key} {v}");
        return string.Join(", ", parts);
    }

    /// <summary>A JSON array of strings as "a, b, c"; "[]" when empty.</summary>
    public static string List(JsonNode? node) =>
        node is JsonArray arr ? arr.Count == 0 ? "[]" : string.Join(", ", arr.Select(x => x is JsonValue v && v.TryGetValue<string>(out var s) ? s : x?.ToJsonString() ?? "null"))
        : node is JsonValue one && one.TryGetValue<string>(out var single) ? single : "[]";

    /// <summary>A scalar JSON value as text (strings bare, numbers as written, booleans lowercase), or null when absent or JSON null.</summary>
    public static string? Str(JsonObject o, string key)
    {
        var n = o[key];
        if (n is null) return null;
        if (n is JsonValue v)
        {
            if (v.TryGetValue<string>(out var s)) return s;
            if (v.TryGetValue<bool>(out var b)) return b ? "true" : "false";
        }
        // Numbers as written in the file (1e-05 stays 1e-05).
        return n.ToJsonString();
    }
}
