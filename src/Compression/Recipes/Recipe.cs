namespace Offload.Compression.Recipes;

/// <summary>A parsed recipe: stages in order, each with its modifiers in order (llm-compressor's layout).</summary>
public sealed record Recipe(string Source, IReadOnlyList<RecipeStage> Stages)
{
    /// <summary>Every modifier of every stage, in order.</summary>
    public IEnumerable<ModifierSpec> Modifiers => Stages.SelectMany(s => s.Modifiers);

    /// <summary>Reads and validates a recipe file (see <see cref="RecipeParser"/>).</summary>
    public static Recipe Load(string path) => RecipeParser.Load(path);

    /// <summary>Parses recipe text; <paramref name="source"/> names it in errors.</summary>
    public static Recipe Parse(string yaml, string source = "recipe.yaml") => RecipeParser.Parse(yaml, source);
}
