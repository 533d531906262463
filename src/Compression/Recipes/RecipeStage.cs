namespace Offload.Compression.Recipes;

/// <summary>One stage of a recipe ("quant_stage"): its modifiers in the order written.</summary>
public sealed record RecipeStage(string Name, string? RunType, IReadOnlyList<ModifierSpec> Modifiers);
