namespace Offload.Compression.Recipes;

/// <summary>
/// QuantizationModifier (round-to-nearest) or GPTQModifier as written in a recipe: the shared quantization fields
/// (targets, scheme presets, ignore, config_groups, kv_cache_scheme) and GPTQ's own (block_size, dampening_frac,
/// actorder, offload_hessians). Parsed and validated here; the quantization code implements them.
/// </summary>
public sealed record QuantizationModifierSpec : ModifierSpec
{
    /// <summary>Preset names of compressed-tensors (spec §9); "Wb A16/A8/A4" for b in 2..8 are checked by pattern.</summary>
    public static readonly IReadOnlyList<string> NamedPresets =
        ["W4A16_ASYM", "W8A8", "INT8", "W4AFP8", "FP8", "FP8_DYNAMIC", "FP8_BLOCK", "NVFP4A16", "NVFP4", "MXFP4", "MXFP4A16", "MXFP8", "MXFP8A16", "UNQUANTIZED"];

    public QuantizationModifierSpec(bool gptq) => IsGptq = gptq;

    /// <summary>True for GPTQModifier.</summary>
    public bool IsGptq { get; }

    public override string TypeName => IsGptq ? "GPTQModifier" : "QuantizationModifier";

    public IReadOnlyList<string> Targets { get; init; } = ["Linear"];
    public IReadOnlyList<string> Ignore { get; init; } = [];
    /// <summary>Preset name → targets (a plain `scheme: W4A16` uses <see cref="Targets"/>).</summary>
    public IReadOnlyList<(string Preset, IReadOnlyList<string> Targets)> Presets { get; init; } = [];
    public IReadOnlyList<QuantizationSchemeSpec> ConfigGroups { get; init; } = [];
    public QuantizationArgsSpec? KvCacheScheme { get; init; }

    // GPTQ only
    public int BlockSize { get; init; } = 128;
    public double DampeningFrac { get; init; } = 0.01;
    /// <summary>null: not set (GPTQ resolves to "weight" unless the scheme sets one).</summary>
    public string? ActOrder { get; init; }
    public bool OffloadHessians { get; init; }

    /// <summary>True for a preset name compressed-tensors knows.</summary>
    public static bool IsKnownPreset(string name)
    {
        var upper = name.ToUpperInvariant();
        if (NamedPresets.Contains(upper)) return true;
        if (upper.Length < 4 || upper[0] != 'W' || upper[2] != 'A' || upper[1] is < '2' or > '8') return false;
        var bits = upper[1] - '0';
        return upper[3..] switch
        {
            "16" => true,
            "8" => true,
            "4" => bits <= 4,
            _ => false,
        };
    }

    /// <summary>Reads the arguments of QuantizationModifier or GPTQModifier.</summary>
    public static QuantizationModifierSpec Read(RecipeArgs a, bool gptq, string stage, string group, string location)
    {
        var targets = a.StringList("targets", ["Linear"])!;
        var ignore = a.StringList("ignore", [])!;
        var presets = new List<(string, IReadOnlyList<string>)>();
        var schemeNode = a.Node("scheme");
        if (schemeNode is YamlDotNet.RepresentationModel.YamlScalarNode { Value: { } name })
        {
            presets.Add((CheckPreset(a, schemeNode, name), targets));
        }
        else if (schemeNode is YamlDotNet.RepresentationModel.YamlMappingNode map)
        {
            var m = new RecipeArgs(map, a.Source, $"{(gptq ? "GPTQModifier" : "QuantizationModifier")} scheme");
            foreach (var (k, _) in map.Children)
            {
                var preset = ((YamlDotNet.RepresentationModel.YamlScalarNode)k).Value!;
                presets.Add((CheckPreset(a, k, preset), m.StringList(preset)!));
            }
            m.Finish();
        }
        else if (schemeNode is not null) throw a.Bad(schemeNode, "scheme", "a preset name or a mapping preset → targets", RecipeArgs.Describe(schemeNode));
        var groups = new List<QuantizationSchemeSpec>();
        foreach (var (key, _, value) in a.Entries("config_groups") ?? [])
        {
            if (value is not YamlDotNet.RepresentationModel.YamlMappingNode gm) throw a.Bad(value, "config_groups", "a mapping of group name → scheme", RecipeArgs.Describe(value));
            groups.Add(QuantizationSchemeSpec.Read(key, new RecipeArgs(gm, a.Source, $"config group '{key}'")));
        }
        var kv = a.Mapping("kv_cache_scheme", "kv_cache_scheme") is { } kvm ? QuantizationArgsSpec.Read(kvm) : null;
        var spec = new QuantizationModifierSpec(gptq)
        {
            Stage = stage, Group = group, Location = location,
            Targets = targets, Ignore = ignore, Presets = presets, ConfigGroups = groups, KvCacheScheme = kv,
        };
        if (gptq)
        {
            spec = spec with
            {
                BlockSize = a.Int("block_size", 128)!.Value,
                DampeningFrac = a.Double("dampening_frac", 0.01)!.Value,
                ActOrder = QuantizationArgsSpec.ReadActOrder(a),
                OffloadHessians = a.Bool("offload_hessians", false)!.Value,
            };
            a.Bool("sequential_update"); // deprecated in llm-compressor, accepted and ignored there too
            if (spec.BlockSize <= 0) throw a.Error("block_size", $"block_size must be positive, got {spec.BlockSize}");
            if (spec.DampeningFrac is < 0 or >= 1) throw a.Error("dampening_frac", $"dampening_frac must be in [0, 1), got {spec.DampeningFrac}");
        }
        a.Finish();
        if (presets.Count == 0 && groups.Count == 0 && kv is null)
            throw new RecipeException($"{location}: {spec.TypeName} needs 'scheme' (e.g. W4A16), 'config_groups' or 'kv_cache_scheme'");
        if (presets.Count > 0 && groups.Count > 0)
            throw new RecipeException($"{location}: {spec.TypeName} has both 'scheme' and 'config_groups'; keep one");
        return spec;
    }

    private static string CheckPreset(RecipeArgs a, YamlDotNet.RepresentationModel.YamlNode node, string name)
    {
        if (!IsKnownPreset(name))
            throw new RecipeException($"{a.At(node)}: unknown quantization scheme '{name}'; use a preset such as W4A16, W8A8, FP8_DYNAMIC or write config_groups");
        return name.ToUpperInvariant();
    }
}
