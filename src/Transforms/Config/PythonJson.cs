using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Offload.Transforms.Config;

/// <summary>
/// Writes a JSON tree byte for byte as Python's json.dumps does with its defaults (ensure_ascii=True, separators
/// ", " and ": ", or "," and ": " with an indent), so configs written here compare equal as text to the Python
/// libraries' output.
/// </summary>
internal static class PythonJson
{
    public static string Serialize(JsonNode? node, int? indent, bool sortKeys)
    {
        var sb = new StringBuilder();
        Write(sb, node, indent, sortKeys, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, JsonNode? node, int? indent, bool sortKeys, int level)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                return;
            case JsonObject obj:
            {
                if (obj.Count == 0)
                {
                    sb.Append("{}");
                    return;
                }
                var entries = obj.ToList();
                if (sortKeys) entries.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
                sb.Append('{');
                for (var i = 0; i < entries.Count; i++)
                {
                    Separator(sb, indent, level + 1, first: i == 0);
                    WriteString(sb, entries[i].Key);
                    sb.Append(": ");
                    Write(sb, entries[i].Value, indent, sortKeys, level + 1);
                }
                Close(sb, indent, level);
                sb.Append('}');
                return;
            }
            case JsonArray arr:
            {
                if (arr.Count == 0)
                {
                    sb.Append("[]");
                    return;
                }
                sb.Append('[');
                for (var i = 0; i < arr.Count; i++)
                {
                    Separator(sb, indent, level + 1, first: i == 0);
                    Write(sb, arr[i], indent, sortKeys, level + 1);
                }
                Close(sb, indent, level);
                sb.Append(']');
                return;
            }
            case JsonValue value:
                WriteValue(sb, value);
                return;
            default:
                throw new NotSupportedException(node.GetType().Name);
        }
    }

    private static void WriteValue(StringBuilder sb, JsonValue value)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                WriteString(sb, value.GetValue<string>());
                return;
            case JsonValueKind.True:
                sb.Append("true");
                return;
            case JsonValueKind.False:
                sb.Append("false");
                return;
            case JsonValueKind.Null:
                sb.Append("null");
                return;
            case JsonValueKind.Number:
                if (value.TryGetValue<long>(out var l)) sb.Append(l.ToString(CultureInfo.InvariantCulture));
                else if (value.TryGetValue<int>(out var i)) sb.Append(i.ToString(CultureInfo.InvariantCulture));
                else sb.Append(value.ToJsonString());
                return;
            default:
                throw new NotSupportedException($"JSON value kind {value.GetValueKind()}");
        }
    }

    private static void Separator(StringBuilder sb, int? indent, int level, bool first)
    {
        if (indent is { } n)
        {
            if (!first) sb.Append(',');
            sb.Append('\n').Append(' ', n * level);
        }
        else if (!first)
        {
            sb.Append(", ");
        }
    }

    private static void Close(StringBuilder sb, int? indent, int level)
    {
        if (indent is { } n) sb.Append('\n').Append(' ', n * level);
    }

    /// <summary>A JSON string with ensure_ascii escaping: everything outside ' '…'~' becomes an escape, \uXXXX lowercase.</summary>
    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < ' ' || c > '~') sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
