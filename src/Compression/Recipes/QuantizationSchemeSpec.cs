namespace Offload.Compression.Recipes;

/// <summary>One config group of a quantization modifier (compressed-tensors QuantizationScheme): targets and args.</summary>
public sealed record QuantizationSchemeSpec(
    string Name,
    IReadOnlyList<string> Targets,
    QuantizationArgsSpec? Weights,
    QuantizationArgsSpec? InputActivations,
    QuantizationArgsSpec? OutputActivations,
    string? Format)
{
    /// <summary>Reads one config group.</summary>
    public static QuantizationSchemeSpec Read(string name, RecipeArgs a)
    {
        var targets = a.StringList("targets") ?? throw a.Error("targets", $"config group '{name}' needs targets (e.g. [Linear])");
        QuantizationArgsSpec? Args(string key) => a.Mapping(key, $"config group '{name}' {key}") is { } m ? QuantizationArgsSpec.Read(m) : null;
        var spec = new QuantizationSchemeSpec(name, targets, Args("weights"), Args("input_activations"), Args("output_activations"), a.String("format"));
        a.Finish();
        if (spec.InputActivations is { ActOrder: not null }) throw a.Error("input_activations", $"config group '{name}': input activations cannot have actorder");
        if (spec.InputActivations is { Strategy: "channel" or "block" }) throw a.Error("input_activations", $"config group '{name}': input activations may use token, tensor, group, tensor_group or attn_head only");
        return spec;
    }
}
