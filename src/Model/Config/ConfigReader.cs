using System.Globalization;
using System.Text.Json;

namespace Offload.Model.Config;

/// <summary>Typed access to the keys of a config.json object; every defect becomes a one-line <see cref="ModelConfigException"/>.</summary>
internal sealed class ConfigReader(string source, JsonElement root)
{
    public string Source { get; } = source;
    public JsonElement Root { get; } = root;

    public bool Has(string key) => Root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonElement? Get(string key) =>
        Root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public int RequiredPositiveInt(string key) =>
        Get(key) is { } v ? PositiveInt(key, v) : throw Missing(key, "a positive integer");

    public int PositiveInt(string key, int fallback) => Get(key) is { } v ? PositiveInt(key, v) : fallback;

    public int? OptionalPositiveInt(string key) => Get(key) is { } v ? PositiveInt(key, v) : null;

    public int NonNegativeInt(string key, int fallback)
    {
        if (Get(key) is not { } v) return fallback;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i) || i < 0)
            throw Bad(key, "a non-negative integer", v);
        return i;
    }

    public double PositiveDouble(string key, double fallback) => Get(key) is { } v ? PositiveDouble(key, v) : fallback;

    public double PositiveDouble(string key, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || !double.IsFinite(d) || d <= 0)
            throw Bad(key, "a positive number", v);
        return d;
    }

    public bool Bool(string key, bool fallback)
    {
        if (Get(key) is not { } v) return fallback;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad(key, "true or false", v),
        };
    }

    public string? String(string key)
    {
        if (Get(key) is not { } v) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Bad(key, "a string", v);
    }

    /// <summary>An int or a list of ints (eos_token_id may be either); empty when absent.</summary>
    public int[] IntOrIntList(string key)
    {
        if (Get(key) is not { } v) return [];
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var one)) return [one];
        if (v.ValueKind != JsonValueKind.Array) throw Bad(key, "an integer or a list of integers", v);
        var list = new int[v.GetArrayLength()];
        var i = 0;
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out list[i++])) throw Bad(key, "an integer or a list of integers", v);
        }
        return list;
    }

    public int PositiveInt(string key, JsonElement v)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var i) || i <= 0) throw Bad(key, "a positive integer", v);
        return i;
    }

    public ModelConfigException Missing(string key, string what) =>
        new($"{Source}: missing key '{key}' ({what}); add it to config.json");

    public ModelConfigException Bad(string key, string what, JsonElement got) =>
        new($"{Source}: '{key}' must be {what}, got {Shorten(got.GetRawText())}; fix config.json");

    private static string Shorten(string raw)
    {
        raw = raw.ReplaceLineEndings(" ");
        return raw.Length <= 60 ? raw : raw[..57] + "...";
    }

    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
