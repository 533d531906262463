using System.Globalization;
using System.Text;
using YamlDotNet.RepresentationModel;

namespace Offload.Compression.Recipes;

/// <summary>
/// Strict, typed reader over one YAML mapping of a recipe (a modifier's arguments, a config group, quantization args):
/// every key must be taken exactly once by a typed accessor, and <see cref="Finish"/> rejects whatever is left. Every
/// error is one line "file:line: what — fix".
/// </summary>
public sealed class RecipeArgs
{
    private readonly YamlMappingNode _node;
    private readonly Dictionary<string, YamlNode> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);

    public RecipeArgs(YamlMappingNode node, string source, string owner)
    {
        _node = node;
        Source = source;
        Owner = owner;
        foreach (var (k, v) in node.Children)
        {
            var key = Key(k, source, owner);
            if (!_values.TryAdd(key, v)) throw new RecipeException($"{At(k)}: {owner} has '{key}' twice; keep one");
        }
    }

    /// <summary>The recipe file name used in messages.</summary>
    public string Source { get; }

    /// <summary>What this mapping belongs to ("SpinQuantModifier", "config group group_0 weights", …).</summary>
    public string Owner { get; }

    /// <summary>1-based line of the mapping.</summary>
    public int Line => (int)_node.Start.Line;

    /// <summary>"file:line" of a node.</summary>
    public string At(YamlNode node) => $"{Source}:{node.Start.Line}";

    /// <summary>True when the key is present and not null.</summary>
    public bool Has(string key) => _values.TryGetValue(key, out var v) && !IsNull(v);

    /// <summary>The raw node of a key without taking it (for error positions), or null when absent.</summary>
    public YamlNode? Peek(string key) => _values.GetValueOrDefault(key);

    /// <summary>The raw node of a key (marked as taken), or null when absent or null.</summary>
    public YamlNode? Node(string key)
    {
        _taken.Add(key);
        return _values.TryGetValue(key, out var v) && !IsNull(v) ? v : null;
    }

    public string? String(string key, string? fallback = null)
    {
        var n = Node(key);
        if (n is null) return fallback;
        return Scalar(n, key, "a string").Value ?? fallback;
    }

    public int? Int(string key, int? fallback = null)
    {
        var n = Node(key);
        if (n is null) return fallback;
        var s = PlainScalar(n, key, "an integer");
        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw Bad(n, key, "an integer", s);
        return v;
    }

    public double? Double(string key, double? fallback = null)
    {
        var n = Node(key);
        if (n is null) return fallback;
        var s = PlainScalar(n, key, "a number");
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw Bad(n, key, "a number", s);
        return v;
    }

    public bool? Bool(string key, bool? fallback = null)
    {
        var n = Node(key);
        if (n is null) return fallback;
        return ParseBool(n, key) ?? throw Bad(n, key, "true or false", Describe(n));
    }

    /// <summary>A list of strings; a single string is accepted as a one-element list (as llm-compressor does for targets).</summary>
    public IReadOnlyList<string>? StringList(string key, IReadOnlyList<string>? fallback = null)
    {
        var n = Node(key);
        if (n is null) return fallback;
        if (n is YamlScalarNode s) return [s.Value ?? ""];
        if (n is not YamlSequenceNode seq) throw Bad(n, key, "a string or a list of strings", Describe(n));
        var list = new List<string>(seq.Children.Count);
        foreach (var item in seq.Children)
        {
            if (item is not YamlScalarNode { Value: { } v } || IsNull(item)) throw Bad(item, key, "a list of strings", Describe(item));
            list.Add(v);
        }
        return list;
    }

    /// <summary>A nested mapping as a strict reader, or null when absent.</summary>
    public RecipeArgs? Mapping(string key, string owner)
    {
        var n = Node(key);
        if (n is null) return null;
        if (n is not YamlMappingNode m) throw Bad(n, key, "a mapping", Describe(n));
        return new RecipeArgs(m, Source, owner);
    }

    /// <summary>The entries of a nested mapping (key, node) in file order, or null when absent.</summary>
    public IReadOnlyList<(string Key, YamlNode KeyNode, YamlNode Value)>? Entries(string key)
    {
        var n = Node(key);
        if (n is null) return null;
        if (n is not YamlMappingNode m) throw Bad(n, key, "a mapping", Describe(n));
        return m.Children.Select(kv => (Key(kv.Key, Source, Owner), kv.Key, kv.Value)).ToList();
    }

    /// <summary>Rejects every key no accessor took, naming the known ones.</summary>
    public void Finish()
    {
        foreach (var (k, _) in _node.Children)
        {
            var key = ((YamlScalarNode)k).Value!;
            if (_taken.Contains(key)) continue;
            var known = string.Join(", ", _taken.Order(StringComparer.Ordinal));
            throw new RecipeException($"{At(k)}: unknown argument '{key}' for {Owner}; known arguments: {known}");
        }
    }

    /// <summary>An error at a node: "file:line: key of owner must be X, got Y".</summary>
    public RecipeException Bad(YamlNode node, string key, string expected, string got) =>
        new($"{At(node)}: '{key}' of {Owner} must be {expected}, got {got}");

    /// <summary>An error at the node of a key (or the mapping when absent).</summary>
    public RecipeException Error(string key, string message) =>
        new($"{(_values.TryGetValue(key, out var v) ? At(v) : $"{Source}:{Line}")}: {Owner}: {message}");

    /// <summary>The node as JSON text (scalars typed by YAML plain-style rules), e.g. for an embedded transform_config.</summary>
    public static string ToJson(YamlNode node)
    {
        var sb = new StringBuilder();
        Write(node, sb);
        return sb.ToString();
    }

    private static void Write(YamlNode node, StringBuilder sb)
    {
        switch (node)
        {
            case YamlMappingNode m:
                sb.Append('{');
                var first = true;
                foreach (var (k, v) in m.Children)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    sb.Append(System.Text.Json.JsonSerializer.Serialize(((YamlScalarNode)k).Value ?? ""));
                    sb.Append(':');
                    Write(v, sb);
                }
                sb.Append('}');
                break;
            case YamlSequenceNode s:
                sb.Append('[');
                for (var i = 0; i < s.Children.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    Write(s.Children[i], sb);
                }
                sb.Append(']');
                break;
            case YamlScalarNode sc:
                var text = sc.Value ?? "";
                if (IsNull(sc)) sb.Append("null");
                else if (sc.Style == YamlDotNet.Core.ScalarStyle.Plain && ParseBool(sc, "") is { } b) sb.Append(b ? "true" : "false");
                else if (sc.Style == YamlDotNet.Core.ScalarStyle.Plain && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) sb.Append(text);
                else sb.Append(System.Text.Json.JsonSerializer.Serialize(text));
                break;
            default:
                sb.Append("null");
                break;
        }
    }

    private YamlScalarNode Scalar(YamlNode n, string key, string expected) =>
        n as YamlScalarNode ?? throw Bad(n, key, expected, Describe(n));

    private string PlainScalar(YamlNode n, string key, string expected)
    {
        var s = Scalar(n, key, expected);
        if (s.Style != YamlDotNet.Core.ScalarStyle.Plain) throw Bad(n, key, expected, $"the quoted string \"{s.Value}\"");
        return s.Value ?? "";
    }

    private static bool? ParseBool(YamlNode n, string key) =>
        n is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: var v }
            ? v switch { "true" or "True" or "TRUE" => true, "false" or "False" or "FALSE" => false, _ => null }
            : null;

    /// <summary>True for an explicit YAML null (plain "null", "~", or nothing).</summary>
    public static bool IsNull(YamlNode n) =>
        n is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: null or "" or "null" or "Null" or "NULL" or "~" };

    /// <summary>A short description of a node for messages.</summary>
    public static string Describe(YamlNode n) => n switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s when s.Style != YamlDotNet.Core.ScalarStyle.Plain => $"the string \"{s.Value}\"",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "an alias",
    };

    private static string Key(YamlNode k, string source, string owner) =>
        k is YamlScalarNode { Value: { } v } ? v : throw new RecipeException($"{source}:{k.Start.Line}: {owner} has a non-string key; write 'name: value'");
}
