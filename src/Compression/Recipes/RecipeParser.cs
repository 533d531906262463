using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Offload.Compression.Recipes;

/// <summary>
/// Reads llm-compressor recipe YAML:
/// <code>
/// quant_stage:                 # a stage: any top-level key ending in "stage"
///   run_type: oneshot          # optional
///   quant_modifiers:           # a modifier group: any key ending in "modifiers"
///     SpinQuantModifier: {rotations: [R1, R2], transform_type: hadamard}
///     QuantizationModifier: {targets: [Linear], scheme: W4A16, ignore: [lm_head]}
/// </code>
/// A top-level "*modifiers" group without a stage forms an implicit stage "default_stage". Unknown modifiers, unknown
/// arguments and wrongly typed values raise <see cref="RecipeException"/> with "file:line".
/// </summary>
public static class RecipeParser
{
    /// <summary>Modifier class names this build understands.</summary>
    public static readonly IReadOnlyList<string> KnownModifiers = ["SpinQuantModifier", "QuantizationModifier", "GPTQModifier"];

    public static Recipe Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RecipeException($"{path}: cannot read the recipe ({e.Message.TrimEnd('.')}); check the path");
        }
        return Parse(text, Path.GetFileName(path));
    }

    public static Recipe Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlException e)
        {
            // YamlDotNet's marks are 1-based; its message repeats them as "(Line: l, Col: c, Idx: i) - (…): text".
            // A scanner error ("While scanning …") starts where the construct began and ends where the defect was found.
            var (line, column) = Where(e, yaml);
            throw new RecipeException($"{source}:{line}:{column}: not valid YAML ({Reason(e)}); fix the recipe's syntax there");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet fails this way on some malformed input (a "%" directive inside a flow mapping, a key with an
            // empty value at column 1) instead of raising a YamlException.
            var (line, column) = LastToken(yaml);
            throw new RecipeException($"{source}:{line}:{column}: not valid YAML ({OneLine(e.Message).TrimEnd('.')} after this point); fix the recipe's syntax there");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new RecipeException($"{source}:1: a recipe is a mapping of stages (e.g. quant_stage:) to modifier groups");
        var stages = new List<RecipeStage>();
        var loose = new List<ModifierSpec>();
        foreach (var (k, v) in root.Children)
        {
            var key = KeyOf(k, source);
            if (key.EndsWith("stage", StringComparison.Ordinal)) stages.Add(ReadStage(key, k, v, source));
            else if (key.EndsWith("modifiers", StringComparison.Ordinal)) loose.AddRange(ReadGroup("default_stage", key, v, source));
            else if (key is "version") continue;
            else throw new RecipeException($"{source}:{k.Start.Line}: unknown top-level key '{key}'; a recipe holds stages (keys ending in _stage) or modifier groups (keys ending in _modifiers)");
        }
        if (loose.Count > 0) stages.Insert(0, new RecipeStage("default_stage", null, loose));
        if (stages.Sum(s => s.Modifiers.Count) == 0) throw new RecipeException($"{source}:1: the recipe has no modifiers");
        return new Recipe(source, stages);
    }

    private static RecipeStage ReadStage(string name, YamlNode keyNode, YamlNode node, string source)
    {
        if (node is not YamlMappingNode map)
            throw new RecipeException($"{source}:{keyNode.Start.Line}: stage '{name}' must be a mapping of modifier groups (e.g. quant_modifiers:)");
        string? runType = null;
        var modifiers = new List<ModifierSpec>();
        foreach (var (k, v) in map.Children)
        {
            var key = KeyOf(k, source);
            if (key == "run_type")
            {
                runType = (v as YamlScalarNode)?.Value;
                if (runType is not ("oneshot" or "train"))
                    throw new RecipeException($"{source}:{v.Start.Line}: run_type of stage '{name}' must be oneshot or train, got {RecipeArgs.Describe(v)}");
            }
            else if (key.EndsWith("modifiers", StringComparison.Ordinal)) modifiers.AddRange(ReadGroup(name, key, v, source));
            else throw new RecipeException($"{source}:{k.Start.Line}: unknown key '{key}' in stage '{name}'; a stage holds run_type and modifier groups (keys ending in _modifiers)");
        }
        return new RecipeStage(name, runType, modifiers);
    }

    private static IEnumerable<ModifierSpec> ReadGroup(string stage, string group, YamlNode node, string source)
    {
        if (node is not YamlMappingNode map)
            throw new RecipeException($"{source}:{node.Start.Line}: modifier group '{group}' must be a mapping of modifier name → arguments");
        var list = new List<ModifierSpec>();
        foreach (var (k, v) in map.Children)
        {
            var type = KeyOf(k, source);
            var location = $"{source}:{k.Start.Line}";
            var args = v switch
            {
                YamlMappingNode m => new RecipeArgs(m, source, type),
                _ when RecipeArgs.IsNull(v) => new RecipeArgs(new YamlMappingNode(), source, type),
                _ => throw new RecipeException($"{location}: the arguments of {type} must be a mapping, got {RecipeArgs.Describe(v)}"),
            };
            list.Add(type switch
            {
                "SpinQuantModifier" => SpinQuantModifierSpec.Read(args, stage, group, location),
                "QuantizationModifier" => QuantizationModifierSpec.Read(args, gptq: false, stage, group, location),
                "GPTQModifier" => QuantizationModifierSpec.Read(args, gptq: true, stage, group, location),
                _ => throw new RecipeException($"{location}: unknown modifier '{type}'; known modifiers: {string.Join(", ", KnownModifiers)}"),
            });
        }
        return list;
    }

    // The 1-based line and column of a YAML error. A scanner error ("While scanning …") starts where the construct began
    // and ends where the defect was found; some come without marks (Mark.Empty): then the first tab used as indentation
    // for a tab error, else the end of the last token the scanner read.
    private static (long Line, long Column) Where(YamlException e, string yaml)
    {
        var message = e.InnerException?.Message ?? e.Message;
        if (e.Start.Index > 0 || e.End.Index > 0 || e.Start.Line > 1 || e.End.Line > 1)
            return message.Contains("While scanning", StringComparison.Ordinal) ? (e.End.Line, e.End.Column) : (e.Start.Line, e.Start.Column);
        var lines = yaml.Split('\n');
        if (message.Contains("tab", StringComparison.Ordinal))
            for (var i = 0; i < lines.Length; i++)
            {
                var indent = lines[i].Length - lines[i].TrimStart(' ', '\t').Length;
                var tab = lines[i].IndexOf('\t', StringComparison.Ordinal);
                if (tab >= 0 && tab < indent) return (i + 1, tab + 1);
            }
        return LastToken(yaml);
    }

    // The end of the last token the scanner reads before it fails (1-based line and column).
    private static (long Line, long Column) LastToken(string yaml)
    {
        var last = (Line: 1L, Column: 1L);
        try
        {
            var scanner = new Scanner(new StringReader(yaml));
            while (scanner.MoveNext()) last = (scanner.Current!.End.Line, scanner.Current.End.Column);
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException)
        {
        }
        return last;
    }

    private static string KeyOf(YamlNode k, string source) =>
        k is YamlScalarNode { Value: { } v } ? v : throw new RecipeException($"{source}:{k.Start.Line}:{k.Start.Column}: a key must be a plain name, got {RecipeArgs.Describe(k)}; write 'name: value'");

    private static string Reason(YamlException e)
    {
        var m = OneLine(e.InnerException?.Message ?? e.Message);
        var cut = m.IndexOf("): ", StringComparison.Ordinal);
        if (m.StartsWith("(Line:", StringComparison.Ordinal) && cut > 0) m = m[(cut + 3)..];
        return m.TrimEnd('.');
    }

    private static string OneLine(string s) => s.Replace('\n', ' ').Replace('\r', ' ').Trim();
}
