using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Compression.Sequential;
using Offload.Compression.SpinQuant;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Protocol.Messages;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// What a node builds from a job's spec to run its layers as the single process would: for a compress job with a
/// GPTQModifier, the modifier (its per-layer results written to a state folder of the node, which the layer entity serves
/// to the coordinator) and SpinQuant's online
/// R3/R4 (inside every layer's forward, so ahead of the Hessian capture). An evaluation gets neither.
/// </summary>
public static class ClusterJobModifiers
{
    public static IReadOnlyList<IJobListener> Listeners(JobSpec spec, string stateDir)
    {
        var recipe = RecipeOf(spec);
        if (recipe is not { NeedsCalibration: true }) return [];
        return [new GptqModifier(recipe.Plan!, recipe.Gptq, stateDir, keepResults: false, recipe.Method)];
    }

    public static ILinearInputHook? Hooks(JobSpec spec)
    {
        var recipe = RecipeOf(spec);
        return recipe is null ? null : Online(spec, recipe);
    }

    private static CompressionRecipe? RecipeOf(JobSpec spec) =>
        spec.Kind != "compress" || string.IsNullOrEmpty(spec.RecipeYaml) ? null : CompressionRecipe.From(Recipe.Parse(spec.RecipeYaml, $"job {spec.JobId} recipe"), spec.RecipeYaml);

    private static SpinQuantOnline? Online(JobSpec spec, CompressionRecipe recipe)
    {
        if (recipe.Rotation is not { } rotation) return null;
        var config = LlamaConfig.Load(Path.Combine(spec.ModelDir, LlamaConfig.FileName));
        var online = new SpinQuantOnline(SpinQuantPlan.Create(rotation, config));
        return online.Any ? online : null;
    }
}
