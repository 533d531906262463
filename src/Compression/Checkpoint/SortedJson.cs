using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Offload.Compression.Checkpoint;

/// <summary>JSON written as Python's json.dumps(sort_keys=True, indent=2) lays it out: keys sorted (ordinal), two-space indent, a final newline.</summary>
public static class SortedJson
{
    private static readonly JsonSerializerOptions s_options = new()
    {
        WriteIndented = true,
        IndentSize = 2,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>A deep copy of <paramref name="node"/> with every object's keys sorted.</summary>
    public static JsonNode? Sort(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Sort(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Sort).ToArray()),
        null => null,
        _ => node.DeepClone(),
    };

    /// <summary>The sorted, indented text with a trailing newline.</summary>
    public static string Serialize(JsonNode node) => Sort(node)!.ToJsonString(s_options) + "\n";

    /// <summary>Writes <paramref name="node"/> to <paramref name="path"/> (UTF-8, no BOM).</summary>
    public static void WriteFile(string path, JsonNode node) => File.WriteAllText(path, Serialize(node), new UTF8Encoding(false));
}
