namespace Offload.Compression.Recipes;

/// <summary>
/// compressed-tensors QuantizationArgs as written in a recipe (weights, input_activations, output_activations,
/// kv_cache_scheme), typed and checked against the rules of spec §7.1; the quantization code gives them meaning.
/// Absent fields are null (the defaults are the quantization code's business).
/// </summary>
public sealed record QuantizationArgsSpec
{
    public static readonly IReadOnlyList<string> Strategies = ["tensor", "channel", "group", "block", "token", "tensor_group", "attn_head"];
    public static readonly IReadOnlyList<string> ActOrders = ["group", "weight", "dynamic", "static"];

    public int? NumBits { get; init; }
    public string? Type { get; init; }
    public bool? Symmetric { get; init; }
    public int? GroupSize { get; init; }
    public string? Strategy { get; init; }
    public IReadOnlyList<int>? BlockStructure { get; init; }
    /// <summary>"true", "false" or "local".</summary>
    public string? Dynamic { get; init; }
    /// <summary>Canonical name (group / weight) or null; true maps to group, false to null.</summary>
    public string? ActOrder { get; init; }
    public string? ScaleDType { get; init; }
    public string? ZpDType { get; init; }
    public string? Observer { get; init; }
    public IReadOnlyDictionary<string, string>? ObserverKwargs { get; init; }

    /// <summary>Reads and checks one QuantizationArgs mapping.</summary>
    public static QuantizationArgsSpec Read(RecipeArgs a)
    {
        var typeNode = a.Node("type");
        var type = typeNode is null ? null : ((YamlDotNet.RepresentationModel.YamlScalarNode)typeNode).Value;
        if (type is not null and not ("int" or "float")) throw a.Bad(typeNode!, "type", "int or float", $"'{type}'");
        var strategy = a.String("strategy");
        if (strategy is not null && !Strategies.Contains(strategy))
            throw a.Error("strategy", $"strategy '{strategy}' is not one of {string.Join(", ", Strategies)}");
        var dynNode = a.Node("dynamic");
        string? dynamic = null;
        if (dynNode is YamlDotNet.RepresentationModel.YamlScalarNode ds)
        {
            dynamic = ds.Value switch { "true" or "True" => "true", "false" or "False" => "false", "local" => "local", _ => null };
            if (dynamic is null) throw a.Bad(ds, "dynamic", "true, false or local", RecipeArgs.Describe(ds));
        }
        else if (dynNode is not null) throw a.Bad(dynNode, "dynamic", "true, false or local", RecipeArgs.Describe(dynNode));
        var actorder = ReadActOrder(a);
        var block = ReadBlockStructure(a);
        var kwargs = a.Entries("observer_kwargs")?.ToDictionary(e => e.Key, e => e.Value is YamlDotNet.RepresentationModel.YamlScalarNode s ? s.Value ?? "" : RecipeArgs.ToJson(e.Value));
        var spec = new QuantizationArgsSpec
        {
            NumBits = a.Int("num_bits"),
            Type = type,
            Symmetric = a.Bool("symmetric"),
            GroupSize = a.Int("group_size"),
            Strategy = strategy,
            BlockStructure = block,
            Dynamic = dynamic,
            ActOrder = actorder,
            ScaleDType = a.String("scale_dtype"),
            ZpDType = a.String("zp_dtype"),
            Observer = a.String("observer"),
            ObserverKwargs = kwargs,
        };
        a.Finish();
        if (spec.NumBits is { } b && (b < 1 || b > 16)) throw a.Error("num_bits", $"num_bits {b} is outside 1..16");
        if (spec.Strategy == "token" && spec.Dynamic is null or "false") throw a.Error("strategy", "the token strategy requires dynamic: true");
        if (spec.GroupSize is > 0 && spec.Strategy is not (null or "group" or "tensor_group"))
            throw a.Error("group_size", $"group_size {spec.GroupSize} needs strategy group or tensor_group, not {spec.Strategy}");
        if ((spec.Strategy == "block") != (spec.BlockStructure is not null) && spec.Strategy is not null)
            throw a.Error("block_structure", "the block strategy and block_structure go together; set both or neither");
        return spec;
    }

    /// <summary>actorder: group / weight / dynamic (= group) / static (= weight) as spelled, true (= group), false or null (none).</summary>
    internal static string? ReadActOrder(RecipeArgs a)
    {
        var n = a.Node("actorder");
        if (n is null) return null;
        if (n is not YamlDotNet.RepresentationModel.YamlScalarNode { Value: { } v }) throw a.Bad(n, "actorder", "group, weight, dynamic, static or a bool", RecipeArgs.Describe(n));
        return v switch
        {
            "true" or "True" => "group",
            // Kept as spelled: compressed-tensors accepts the aliases and writes them back unchanged (static stays "static").
            "group" or "dynamic" or "weight" or "static" => v,
            "false" or "False" => null,
            _ => throw a.Bad(n, "actorder", "group, weight, dynamic, static or a bool", $"'{v}'"),
        };
    }

    private static IReadOnlyList<int>? ReadBlockStructure(RecipeArgs a)
    {
        var n = a.Node("block_structure");
        if (n is null) return null;
        string[] parts;
        if (n is YamlDotNet.RepresentationModel.YamlScalarNode { Value: { } s }) parts = s.Split('x');
        else if (n is YamlDotNet.RepresentationModel.YamlSequenceNode seq) parts = seq.Children.Select(c => (c as YamlDotNet.RepresentationModel.YamlScalarNode)?.Value ?? "").ToArray();
        else throw a.Bad(n, "block_structure", "[rows, cols] or \"RxC\"", RecipeArgs.Describe(n));
        if (parts.Length != 2 || !int.TryParse(parts[0], out var r) || !int.TryParse(parts[1], out var c) || r <= 0 || c <= 0)
            throw a.Bad(n, "block_structure", "[rows, cols] or \"RxC\" with positive sizes", RecipeArgs.Describe(n));
        return [r, c];
    }
}
