using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Protocol;

namespace Offload.Transforms.Config;

/// <summary>
/// The transform_config JSON mapping, with pydantic's strictness (extra="forbid"): unknown keys, wrong JSON types,
/// unknown locations/types/dtypes are one-line <see cref="TransformConfigException"/>s naming the source and field.
/// A bare string for targets/ignore becomes a one-element list; precision accepts "torch.float64" and "float64".
/// </summary>
internal static class TransformConfigJson
{
    private static readonly string[] s_configKeys = ["config_groups"];
    private static readonly string[] s_schemeKeys = ["type", "apply", "randomize", "requires_grad", "head_dim", "precision"];
    private static readonly string[] s_argsKeys = ["targets", "location", "inverse", "ignore"];

    public static JsonObject ToNode(TransformConfig config)
    {
        var groups = new JsonObject();
        foreach (var g in config.ConfigGroups) groups[g.Name] = SchemeNode(g.Scheme);
        return new JsonObject { ["config_groups"] = groups };
    }

    private static JsonObject SchemeNode(TransformScheme s)
    {
        var apply = new JsonArray();
        foreach (var a in s.Apply) apply.Add(ArgsNode(a));
        return new JsonObject
        {
            ["type"] = s.Type.ToWireName(),
            ["apply"] = apply,
            ["randomize"] = s.Randomize,
            ["requires_grad"] = s.RequiresGrad,
            ["head_dim"] = s.HeadDim is { } h ? JsonValue.Create(h) : null,
            ["precision"] = TorchDtype(s.Precision),
        };
    }

    private static JsonObject ArgsNode(TransformArgs a)
    {
        var targets = new JsonArray();
        foreach (var t in a.Targets) targets.Add(t);
        var ignore = new JsonArray();
        foreach (var t in a.Ignore) ignore.Add(t);
        return new JsonObject
        {
            ["targets"] = targets,
            ["location"] = a.Location.ToWireName(),
            ["inverse"] = a.Inverse,
            ["ignore"] = ignore,
        };
    }

    /// <summary>"torch.float32" etc. (str(torch.dtype)).</summary>
    public static string TorchDtype(DType dtype) => "torch." + dtype.ToTorchName();

    /// <summary>A torch float dtype from "torch.xxx" or "xxx" (names torch itself defines: float32/float, float64/double, float16/half, bfloat16).</summary>
    public static bool TryParseTorchDtype(string text, out DType dtype)
    {
        var name = text.StartsWith("torch.", StringComparison.Ordinal) ? text["torch.".Length..] : text;
        switch (name)
        {
            case "float32" or "float": dtype = DType.F32; return true;
            case "float64" or "double": dtype = DType.F64; return true;
            case "float16" or "half": dtype = DType.F16; return true;
            case "bfloat16": dtype = DType.BF16; return true;
            default: dtype = default; return false;
        }
    }

    public static TransformConfig Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new TransformConfigException($"{source}: not valid JSON ({ex.Message.Split('\n')[0]})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            RequireObject(root, source, "");
            CheckKeys(root, s_configKeys, source, "");
            if (!root.TryGetProperty("config_groups", out var groups))
                throw new TransformConfigException($"{source}: config_groups is required (a map from group name to scheme)");
            RequireObject(groups, source, "config_groups");
            var list = new List<TransformGroup>();
            foreach (var g in groups.EnumerateObject())
            {
                if (list.Any(x => x.Name == g.Name)) throw new TransformConfigException($"{source}: config_groups.{g.Name} appears twice; give each group a distinct name");
                list.Add(new TransformGroup(g.Name, ParseScheme(g.Value, source, $"config_groups.{g.Name}")));
            }
            return new TransformConfig(list);
        }
    }

    private static TransformScheme ParseScheme(JsonElement e, string source, string path)
    {
        RequireObject(e, source, path);
        CheckKeys(e, s_schemeKeys, source, path);
        if (!e.TryGetProperty("type", out var typeElement))
            throw new TransformConfigException($"{source}: {path}.type is required (hadamard, random-hadamard, random-matrix)");
        var typeName = RequireString(typeElement, source, $"{path}.type");
        if (!TransformTypes.TryParse(typeName, out var type))
            throw new TransformConfigException($"{source}: {path}.type '{typeName}' is not a transform type; use hadamard, random-hadamard, random-matrix (or Offload's random-orthogonal)");
        var apply = new List<TransformArgs>();
        if (e.TryGetProperty("apply", out var applyElement))
        {
            if (applyElement.ValueKind != JsonValueKind.Array)
                throw new TransformConfigException($"{source}: {path}.apply must be a list of transform args");
            var i = 0;
            foreach (var a in applyElement.EnumerateArray()) apply.Add(ParseArgs(a, source, $"{path}.apply[{i++}]"));
        }
        var randomize = OptionalBool(e, "randomize", source, path);
        var requiresGrad = OptionalBool(e, "requires_grad", source, path);
        int? headDim = null;
        if (e.TryGetProperty("head_dim", out var hd) && hd.ValueKind != JsonValueKind.Null)
        {
            if (hd.ValueKind != JsonValueKind.Number || !hd.TryGetInt32(out var h))
                throw new TransformConfigException($"{source}: {path}.head_dim must be an integer block size or null");
            if (h <= 0) throw new TransformConfigException($"{source}: {path}.head_dim {h} must be positive (or null for the full size)");
            headDim = h;
        }
        var precision = DType.F32;
        if (e.TryGetProperty("precision", out var pe))
        {
            var text = RequireString(pe, source, $"{path}.precision");
            if (!TryParseTorchDtype(text, out precision))
                throw new TransformConfigException($"{source}: {path}.precision '{text}' is not a torch float dtype; use torch.float32, torch.float64, torch.float16 or torch.bfloat16");
        }
        try
        {
            return new TransformScheme(type, apply, randomize, requiresGrad, headDim, precision);
        }
        catch (TransformConfigException ex)
        {
            throw new TransformConfigException($"{source}: {path}: {ex.Message}");
        }
    }

    private static TransformArgs ParseArgs(JsonElement e, string source, string path)
    {
        RequireObject(e, source, path);
        CheckKeys(e, s_argsKeys, source, path);
        if (!e.TryGetProperty("targets", out var targetsElement))
            throw new TransformConfigException($"{source}: {path}.targets is required (module names, re:regexes or class names)");
        var targets = StringList(targetsElement, source, $"{path}.targets");
        if (!e.TryGetProperty("location", out var locationElement))
            throw new TransformConfigException($"{source}: {path}.location is required (input, weight_input, weight_output, output, q_attn, k_cache)");
        var locationName = RequireString(locationElement, source, $"{path}.location");
        if (!TransformLocations.TryParse(locationName, out var location))
            throw new TransformConfigException($"{source}: {path}.location '{locationName}' is not a location; use input, weight_input, weight_output, output, q_attn or k_cache");
        var inverse = OptionalBool(e, "inverse", source, path);
        var ignore = e.TryGetProperty("ignore", out var ig) ? StringList(ig, source, $"{path}.ignore") : [];
        return new TransformArgs(targets, location, inverse, ignore);
    }

    private static List<string> StringList(JsonElement e, string source, string path)
    {
        if (e.ValueKind == JsonValueKind.String) return [e.GetString()!];
        if (e.ValueKind != JsonValueKind.Array) throw new TransformConfigException($"{source}: {path} must be a string or a list of strings");
        var list = new List<string>();
        var i = 0;
        foreach (var item in e.EnumerateArray()) list.Add(RequireString(item, source, $"{path}[{i++}]"));
        return list;
    }

    private static bool OptionalBool(JsonElement e, string key, string source, string path)
    {
        if (!e.TryGetProperty(key, out var v)) return false;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new TransformConfigException($"{source}: {path}.{key} must be true or false"),
        };
    }

    private static string RequireString(JsonElement e, string source, string path)
    {
        if (e.ValueKind != JsonValueKind.String) throw new TransformConfigException($"{source}: {path} must be a string");
        return e.GetString()!;
    }

    private static void RequireObject(JsonElement e, string source, string path)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new TransformConfigException($"{source}: {(path.Length == 0 ? "the document" : path)} must be a JSON object");
    }

    private static void CheckKeys(JsonElement e, string[] allowed, string source, string path)
    {
        foreach (var p in e.EnumerateObject())
        {
            if (Array.IndexOf(allowed, p.Name) >= 0) continue;
            var where = path.Length == 0 ? "" : path + ": ";
            throw new TransformConfigException($"{source}: {where}unknown key '{p.Name}' (extra keys are forbidden); allowed: {string.Join(", ", allowed)}");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
            if (!seen.Add(p.Name)) throw new TransformConfigException($"{source}: {(path.Length == 0 ? "" : path + ": ")}key '{p.Name}' appears twice");
    }
}
