using System.Text.Json;
using System.Text.Json.Nodes;

namespace Offload.Compression.Quantization;

/// <summary>
/// compressed-tensors' QuantizationScheme: the modules it targets and the args for their weights, input activations and
/// output activations (null = not quantized), plus an optional forced format. Input activations may only use token,
/// tensor, group, tensor_group or attn_head and never an actorder. Equality compares the JSON dump.
/// </summary>
public sealed class QuantizationScheme : IEquatable<QuantizationScheme>
{
    private static readonly string[] s_keys = ["targets", "weights", "input_activations", "output_activations", "format"];

    public QuantizationScheme(IReadOnlyList<string> targets, QuantizationArgs? weights, QuantizationArgs? inputActivations = null,
        QuantizationArgs? outputActivations = null, string? format = null, string where = "quantization scheme")
    {
        if (targets.Count == 0) throw new QuantizationConfigException($"{where}: targets is empty; name at least one module class or name (e.g. \"Linear\")");
        foreach (var a in new[] { inputActivations, outputActivations })
        {
            if (a is null) continue;
            if (a.Strategy is not (QuantizationStrategy.Token or QuantizationStrategy.Tensor or QuantizationStrategy.Group
                or QuantizationStrategy.TensorGroup or QuantizationStrategy.AttnHead))
                throw new QuantizationConfigException($"{where}: activations cannot use strategy '{a.Strategy.ToName()}'; use token, tensor, group, tensor_group or attn_head");
            if (a.ActOrder is not null)
                throw new QuantizationConfigException($"{where}: activations cannot have an actorder; remove it");
        }
        Targets = targets.ToArray();
        Weights = weights;
        InputActivations = inputActivations;
        OutputActivations = outputActivations;
        Format = format;
    }

    public IReadOnlyList<string> Targets { get; }
    public QuantizationArgs? Weights { get; }
    public QuantizationArgs? InputActivations { get; }
    public QuantizationArgs? OutputActivations { get; }
    public string? Format { get; }

    /// <summary>A copy with other targets (presets are target-free).</summary>
    public QuantizationScheme WithTargets(IReadOnlyList<string> targets) => new(targets, Weights, InputActivations, OutputActivations, Format);

    /// <summary>A copy with other weight args.</summary>
    public QuantizationScheme WithWeights(QuantizationArgs? weights) => new(Targets, weights, InputActivations, OutputActivations, Format);

    /// <summary>A copy with a format set.</summary>
    public QuantizationScheme WithFormat(string? format) => new(Targets, Weights, InputActivations, OutputActivations, format);

    public JsonObject ToJson()
    {
        var targets = new JsonArray();
        foreach (var t in Targets) targets.Add(t);
        return new JsonObject
        {
            ["targets"] = targets,
            ["weights"] = Weights?.ToJson(),
            ["input_activations"] = InputActivations?.ToJson(),
            ["output_activations"] = OutputActivations?.ToJson(),
            ["format"] = Format,
        };
    }

    /// <summary>Parses strictly (unknown keys refused); a single string target becomes a one-element list.</summary>
    public static QuantizationScheme FromJson(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new QuantizationConfigException($"{where}: expected an object with targets and weights");
        foreach (var p in e.EnumerateObject())
            if (Array.IndexOf(s_keys, p.Name) < 0)
                throw new QuantizationConfigException($"{where}: unknown key '{p.Name}' (allowed: {string.Join(", ", s_keys)})");
        if (!e.TryGetProperty("targets", out var t) || t.ValueKind == JsonValueKind.Null)
            throw new QuantizationConfigException($"{where}: targets is missing");
        List<string> targets = t.ValueKind switch
        {
            JsonValueKind.String => [t.GetString()!],
            JsonValueKind.Array => t.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()!
                : throw new QuantizationConfigException($"{where}: targets must be strings")).ToList(),
            _ => throw new QuantizationConfigException($"{where}: targets must be a string or a list of strings"),
        };
        QuantizationArgs? Args(string key) =>
            e.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? QuantizationArgs.FromJson(v, $"{where}.{key}") : null;
        string? format = e.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
        return new QuantizationScheme(targets, Args("weights"), Args("input_activations"), Args("output_activations"), format, where);
    }

    public bool Equals(QuantizationScheme? other) => other is not null && ToJson().ToJsonString() == other.ToJson().ToJsonString();

    public override bool Equals(object? obj) => Equals(obj as QuantizationScheme);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToJson().ToJsonString());

    public override string ToString() => ToJson().ToJsonString();
}
