using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Compression.Checkpoint;
using Offload.DeviceActors;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>
/// `offload inspect DIR [--tensors] [--json]`: the architecture (config.json), every tensor's dtype, shape and bytes
/// (grouped per layer; all of them with --tensors), totals, and a compressed-tensors checkpoint's quantization_config
/// (with the KV-cache scales' values) and transform_config. Reads headers only, plus the k_scale / v_scale values.
/// </summary>
public static class InspectCommand
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "checkpoint folder: config.json + model.safetensors, or shards with model.safetensors.index.json" };
        var tensors = new Option<bool>("--tensors") { Description = "list every tensor (name, dtype, shape, bytes) instead of one line per layer" };
        var json = new Option<bool>("--json") { Description = "print one JSON object (architecture, files, every tensor, groups, totals, quantization and transform config)" };
        var cmd = new Command("inspect",
            "Show a Hugging Face or compressed-tensors checkpoint without loading it: architecture, tensors per layer (dtypes, shapes, bytes), totals, quantization_config and transform_config.")
        {
            dir, tensors, json,
        };
        cmd.WithExamples("offload inspect ./stories260K", "offload inspect ./Llama-3-8B-W4A16 --tensors", "offload inspect ./m --json");
        cmd.SetAction(parse =>
        {
            var inspection = CheckpointInspector.Inspect(parse.GetValue(dir)!);
            if (parse.GetValue(json)) Console.Out.Write(ToJson(inspection).ToJsonString(s_json) + "\n");
            else WriteText(Console.Out, inspection, parse.GetValue(tensors));
            return CliRunner.Success;
        });
        return cmd;
    }

    /// <summary>The machine-readable form (stable keys, snake_case; raw quantization_config / transform_config).</summary>
    public static JsonObject ToJson(CheckpointInspection x)
    {
        var arch = new JsonObject();
        foreach (var key in CheckpointInspector.ArchitectureKeys)
            if (x.Config[key] is { } v) arch[key] = v.DeepClone();
        return new JsonObject
        {
            ["directory"] = x.Directory,
            ["format"] = x.IsCompressedTensors ? "compressed-tensors" : "huggingface",
            ["architecture"] = arch,
            ["index_file"] = x.IndexFile,
            ["files"] = new JsonArray(x.Files.Select(f => (JsonNode)new JsonObject { ["name"] = f.Name, ["bytes"] = f.Bytes, ["tensors"] = f.Tensors }).ToArray()),
            ["totals"] = new JsonObject
            {
                ["tensors"] = x.Tensors.Count,
                ["elements"] = x.TotalElements,
                ["bytes"] = x.TotalBytes,
                ["bytes_by_dtype"] = new JsonObject(x.BytesByDType.Select(p => KeyValuePair.Create(p.DType.ToSafetensorsName(), (JsonNode?)p.Bytes))),
            },
            ["groups"] = new JsonArray(x.Groups.Select(g => (JsonNode)new JsonObject
            {
                ["name"] = g.Name,
                ["layer"] = g.Layer >= 0 ? g.Layer : null,
                ["tensors"] = g.Tensors,
                ["elements"] = g.Elements,
                ["bytes"] = g.Bytes,
                ["dtypes"] = new JsonObject(g.DTypes.Select(d => KeyValuePair.Create(d.DType.ToSafetensorsName(), (JsonNode?)d.Count))),
            }).ToArray()),
            ["tensors"] = new JsonArray(x.Tensors.Select(t => (JsonNode)new JsonObject
            {
                ["name"] = t.Name,
                ["dtype"] = t.DType.ToSafetensorsName(),
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["bytes"] = t.ByteLength,
            }).ToArray()),
            ["quantization_config"] = x.QuantizationConfig?.DeepClone(),
            ["transform_config"] = x.TransformConfig?.DeepClone(),
            ["kv_cache_scales"] = new JsonArray(x.KvCacheScales.Select(k => (JsonNode)new JsonObject
            {
                ["name"] = k.Name,
                ["dtype"] = k.DType.ToSafetensorsName(),
                ["shape"] = new JsonArray(k.Shape.Select(d => (JsonNode)d).ToArray()),
                ["values"] = new JsonArray(k.Values.Select(v => (JsonNode)v).ToArray()),
            }).ToArray()),
            ["recipe"] = x.Recipe,
            ["needs_offload"] = new JsonArray(x.NeedsOffload.Select(r => (JsonNode)r).ToArray()),
        };
    }

    /// <summary>The human-readable form.</summary>
    public static void WriteText(TextWriter o, CheckpointInspection x, bool allTensors)
    {
        var inv = CultureInfo.InvariantCulture;
        var c = x.Config;
        string? S(string key) => CheckpointInspector.Str(c, key);
        o.WriteLine($"checkpoint    {x.Directory} ({(x.IsCompressedTensors ? "compressed-tensors" : x.QuantizationConfig is not null ? "quantized: " + (CheckpointInspector.Str(x.QuantizationConfig, "quant_method") ?? "?") : "Hugging Face")})");
        var arch = c["architectures"] is JsonArray a ? CheckpointInspector.List(a) : "(no architectures)";
        var parts = new List<string>();
        void Add(string label, string? value)
        {
            if (value is not null) parts.Add($"{label} {value}");
        }
        Add("layers", S("num_hidden_layers"));
        Add("hidden", S("hidden_size"));
        Add("MLP", S("intermediate_size"));
        if (S("num_attention_heads") is { } heads) parts.Add($"heads {heads}/{S("num_key_value_heads") ?? heads}" + (S("head_dim") is { } hd ? $" × {hd}" : ""));
        Add("vocab", S("vocab_size"));
        Add("max positions", S("max_position_embeddings"));
        Add("dtype", S("torch_dtype"));
        if (S("tie_word_embeddings") == "true") parts.Add("tied embeddings");
        Add("rope_theta", S("rope_theta"));
        Add("rms_norm_eps", S("rms_norm_eps"));
        if (c["rope_scaling"] is JsonObject rs) parts.Add($"rope_scaling {CheckpointInspector.Str(rs, "rope_type") ?? CheckpointInspector.Str(rs, "type") ?? "?"}");
        Add("sliding_window", S("sliding_window"));
        o.WriteLine($"architecture  {arch}{(S("model_type") is { } mt ? $" ({mt})" : "")}: {string.Join(", ", parts)}");
        o.WriteLine(x.IndexFile is null
            ? string.Create(inv, $"files         {x.Files[0].Name} ({ByteSize.Format(x.Files[0].Bytes)})")
            : string.Create(inv, $"files         {x.Files.Count} shards listed by {x.IndexFile}: ") + string.Join(", ", x.Files.Select(f => $"{f.Name} ({ByteSize.Format(f.Bytes)}, {f.Tensors} tensors)")));
        o.WriteLine(string.Create(inv, $"tensors       {x.Tensors.Count} tensors, {x.TotalElements:N0} elements, {ByteSize.Format(x.TotalBytes)} ({x.TotalBytes:N0} bytes): ")
            + string.Join(", ", x.BytesByDType.Select(p => $"{p.DType.ToSafetensorsName()} {ByteSize.Format(p.Bytes)}")));
        o.WriteLine();

        if (allTensors)
        {
            var width = Math.Max(6, x.Tensors.Max(t => t.Name.Length));
            o.WriteLine($"{"tensor".PadRight(width)}  {"dtype",-5} {"shape",-16} {"bytes",12}");
            foreach (var t in x.Tensors)
                o.WriteLine(string.Create(inv, $"{t.Name.PadRight(width)}  {t.DType.ToSafetensorsName(),-5} {"[" + string.Join(", ", t.Shape) + "]",-16} {t.ByteLength,12:N0}"));
        }
        else
        {
            var width = Math.Max(5, x.Groups.Max(g => g.Name.Length));
            o.WriteLine($"{"group".PadRight(width)}  {"tensors",7} {"elements",14} {"bytes",12}  dtypes");
            foreach (var g in x.Groups)
                o.WriteLine(string.Create(inv, $"{g.Name.PadRight(width)}  {g.Tensors,7} {g.Elements,14:N0} {ByteSize.Format(g.Bytes),12}  ")
                    + string.Join(" ", g.DTypes.Select(d => $"{d.DType.ToSafetensorsName()}×{d.Count}")));
            o.WriteLine(string.Create(inv, $"{"total".PadRight(width)}  {x.Tensors.Count,7} {x.TotalElements,14:N0} {ByteSize.Format(x.TotalBytes),12}"));
            o.WriteLine("(--tensors lists every tensor with its shape)");
        }

        if (x.QuantizationConfig is { } q)
        {
            o.WriteLine();
            o.WriteLine("quantization_config");
            string? Q(string key) => CheckpointInspector.Str(q, key);
            o.WriteLine($"  quant_method {Q("quant_method") ?? "?"}, format {Q("format") ?? "?"}, status {Q("quantization_status") ?? "?"}, version {Q("version") ?? "?"}");
            if (q["config_groups"] is JsonObject groups)
            {
                foreach (var (name, node) in groups)
                {
                    if (node is not JsonObject g) continue;
                    o.WriteLine($"  {name}: targets {CheckpointInspector.List(g["targets"])}; format {CheckpointInspector.Str(g, "format") ?? Q("format") ?? "?"}");
                    o.WriteLine($"    weights             {CheckpointInspector.DescribeArgs(g["weights"])}");
                    o.WriteLine($"    input_activations   {CheckpointInspector.DescribeArgs(g["input_activations"])}");
                    if (g["output_activations"] is JsonObject) o.WriteLine($"    output_activations  {CheckpointInspector.DescribeArgs(g["output_activations"])}");
                }
            }
            o.WriteLine($"  ignore {CheckpointInspector.List(q["ignore"])}");
            if (q["kv_cache_scheme"] is JsonObject kv) o.WriteLine($"  kv_cache_scheme {CheckpointInspector.DescribeArgs(kv)}");
            foreach (var (name, dtype, shape, values) in x.KvCacheScales)
                o.WriteLine($"    {name} {dtype.ToSafetensorsName()} [{string.Join(", ", shape)}] = "
                    + string.Join(" ", values.Select(v => v.ToString("G9", inv))));
        }
        if (x.TransformConfig is { } tc)
        {
            o.WriteLine();
            o.WriteLine("transform_config");
            if (tc["config_groups"] is JsonObject tgroups)
            {
                foreach (var (name, scheme) in tgroups)
                {
                    o.WriteLine($"  {name}: {CheckpointInspector.DescribeTransformScheme(scheme)}");
                    if (scheme?["apply"] is JsonArray apply)
                        foreach (var entry in apply) o.WriteLine($"    {CheckpointInspector.DescribeApply(entry)}");
                }
            }
        }
        if (x.Recipe is { } recipe)
        {
            o.WriteLine();
            var modifiers = CheckpointInspector.RecipeModifiers(recipe);
            o.WriteLine($"recipe        recipe.yaml ({recipe.Split('\n').Length} lines){(modifiers.Count > 0 ? ": " + string.Join(", ", modifiers) : "")}");
        }
        if (x.NeedsOffload.Count > 0)
        {
            o.WriteLine();
            foreach (var reason in x.NeedsOffload) o.WriteLine($"needs Offload {reason}");
        }
        else if (x.TransformConfig is not null)
        {
            o.WriteLine("  loadable by compressed-tensors (every transform is one it builds)");
        }
    }
}
