namespace Offload.Compression.Recipes;

/// <summary>
/// One modifier of a recipe as written: its class name (llm-compressor's, e.g. "SpinQuantModifier"), the stage and
/// group it sits in, and where. Subclasses hold the typed, validated arguments.
/// </summary>
public abstract record ModifierSpec
{
    /// <summary>The modifier class name as in llm-compressor.</summary>
    public abstract string TypeName { get; }

    /// <summary>The stage ("quant_stage") and modifier group ("quant_modifiers") it was declared in.</summary>
    public string Stage { get; init; } = "";
    public string Group { get; init; } = "";

    /// <summary>"recipe.yaml:12", where the modifier's name stands.</summary>
    public string Location { get; init; } = "";
}
