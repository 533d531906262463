namespace Offload.Transforms.Config;

/// <summary>
/// The transforms of a model (compressed-tensors' TransformConfig, strict): named groups, applied in order. Written
/// into config.json as "transform_config"; <see cref="ToJson"/> and <see cref="FromJson"/> round-trip the library's
/// serialisation exactly.
/// </summary>
public sealed record TransformConfig
{
    public TransformConfig(IReadOnlyList<TransformGroup> configGroups)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var g in configGroups)
            if (!names.Add(g.Name)) throw new TransformConfigException($"transform_config: config group '{g.Name}' appears twice; give each group a distinct name");
        ConfigGroups = configGroups.ToArray();
    }

    /// <summary>The groups in application order.</summary>
    public IReadOnlyList<TransformGroup> ConfigGroups { get; }

    /// <summary>The scheme of a group, or null.</summary>
    public TransformScheme? this[string name] => ConfigGroups.FirstOrDefault(g => g.Name == name)?.Scheme;

    /// <summary>
    /// The JSON text as Python's json.dumps writes pydantic's model_dump: keys in field order (type, apply,
    /// randomize, requires_grad, head_dim, precision; targets, location, inverse, ignore) unless
    /// <paramref name="sortKeys"/> (config.json is written with sort_keys=True), separators ", " and ": ", non-ASCII
    /// escaped. indent null: one line; otherwise that many spaces per level.
    /// </summary>
    public string ToJson(int? indent = null, bool sortKeys = false) => PythonJson.Serialize(TransformConfigJson.ToNode(this), indent, sortKeys);

    /// <summary>Parses and validates a transform_config object; errors name <paramref name="source"/> and the field.</summary>
    public static TransformConfig FromJson(string json, string source = "transform_config") => TransformConfigJson.Parse(json, source);

    /// <summary>Value equality over the groups' contents.</summary>
    public bool SameAs(TransformConfig other) =>
        ConfigGroups.Count == other.ConfigGroups.Count &&
        ConfigGroups.Zip(other.ConfigGroups).All(p => p.First.Name == p.Second.Name && p.First.Scheme.SameAs(p.Second.Scheme));
}
