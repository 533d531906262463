using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Compression.Gptq;
using Offload.Compression.Quantization;
using Offload.Compression.Recipes;
using Offload.Compression.SpinQuant;

namespace Offload.Compression.Modifiers;

/// <summary>
/// What a recipe asks a compress job to do, in the job's terms: an optional rotation (SpinQuantModifier, data-free,
/// run first) and an optional quantization (QuantizationModifier = round to nearest, or GPTQModifier) with its plan and
/// solver options. Recipes with other shapes (two quantization modifiers, SpinQuant after quantization) are refused
/// with the recipe line.
/// </summary>
public sealed record CompressionRecipe(SpinQuantModifierSpec? Rotation, QuantizationModifierSpec? Quantization, QuantizationPlan? Plan,
    GptqOptions Gptq, string Text)
{
    /// <summary>
    /// True when the job needs calibration data: GPTQ, or a plan with static input activations (FP8's input_scale,
    /// NVFP4's input_global_scale are observed over the calibration inputs, also under a QuantizationModifier) or a
    /// kv_cache_scheme (k_scale / v_scale likewise).
    /// </summary>
    public bool NeedsCalibration => Quantization is { IsGptq: true }
        || Plan is { } p && (p.KvCacheScheme is not null || p.Groups.Any(g => g.InputActivations is { Dynamic: not DynamicMode.Dynamic }));

    /// <summary>The method of the quantization modifier: GPTQ for GPTQModifier, RTN for QuantizationModifier.</summary>
    public QuantizationMethod Method => Quantization is { IsGptq: true } ? QuantizationMethod.Gptq : QuantizationMethod.Rtn;

    /// <summary>Reads the modifiers of <paramref name="recipe"/>; <paramref name="text"/> is its source text (for the job fingerprint).</summary>
    public static CompressionRecipe From(Recipe recipe, string text)
    {
        SpinQuantModifierSpec? rotation = null;
        QuantizationModifierSpec? quant = null;
        foreach (var m in recipe.Modifiers)
        {
            switch (m)
            {
                case SpinQuantModifierSpec s:
                    if (rotation is not null) throw new RecipeException($"{s.Location}: a second SpinQuantModifier; a compress job runs one rotation");
                    if (quant is not null) throw new RecipeException($"{s.Location}: SpinQuantModifier after {quant.TypeName}; rotate before quantizing (put it first)");
                    rotation = s;
                    break;
                case QuantizationModifierSpec q:
                    if (quant is not null) throw new RecipeException($"{q.Location}: a second quantization modifier ({q.TypeName} after {quant.TypeName}); keep one");
                    quant = q;
                    break;
                default:
                    throw new RecipeException($"{m.Location}: {m.TypeName} is parsed but a compress job does not run it; remove it from the recipe");
            }
        }
        if (rotation is null && quant is null) throw new RecipeException($"{recipe.Source}: the recipe has no modifier a compress job runs (SpinQuantModifier, QuantizationModifier, GPTQModifier)");
        var plan = quant is null ? null : PlanOf(quant);
        var gptq = quant is { IsGptq: true }
            ? new GptqOptions { BlockSize = quant.BlockSize, DampeningFrac = quant.DampeningFrac, DefaultActOrder = quant.ActOrder is { } ao ? QuantizationNames.ParseActOrder(ao, quant.Location) : ActivationOrdering.Static }
            : new GptqOptions();
        return new CompressionRecipe(rotation, quant, plan, gptq, text);
    }

    /// <summary>The compressed-tensors plan of a quantization modifier: presets or config groups, ignore (lm_head always kept dense).</summary>
    public static QuantizationPlan PlanOf(QuantizationModifierSpec spec)
    {
        var groups = new List<QuantizationScheme>();
        foreach (var (preset, targets) in spec.Presets) groups.Add(QuantizationPresets.Get(preset, targets));
        foreach (var g in spec.ConfigGroups)
        {
            var where = $"{spec.Location} config group '{g.Name}'";
            groups.Add(new QuantizationScheme(g.Targets, ArgsOf(g.Weights, where + " weights"), ArgsOf(g.InputActivations, where + " input_activations"),
                ArgsOf(g.OutputActivations, where + " output_activations"), where: where));
        }
        var ignore = spec.Ignore.Contains("lm_head") ? spec.Ignore : [.. spec.Ignore, "lm_head"];
        var kv = ArgsOf(spec.KvCacheScheme, $"{spec.Location} kv_cache_scheme");
        return new QuantizationPlan(groups, ignore, kv);
    }

    private static QuantizationArgs? ArgsOf(QuantizationArgsSpec? a, string where)
    {
        if (a is null) return null;
        var o = new JsonObject();
        if (a.NumBits is { } nb) o["num_bits"] = nb;
        if (a.Type is { } t) o["type"] = t;
        if (a.Symmetric is { } sy) o["symmetric"] = sy;
        if (a.GroupSize is { } gs) o["group_size"] = gs;
        if (a.Strategy is { } st) o["strategy"] = st;
        if (a.BlockStructure is { } bs) o["block_structure"] = new JsonArray(bs.Select(v => (JsonNode)v).ToArray());
        if (a.Dynamic is { } dy) o["dynamic"] = dy == "local" ? "local" : dy == "true";
        if (a.ActOrder is { } ao) o["actorder"] = ao;
        if (a.ScaleDType is { } sd) o["scale_dtype"] = sd;
        if (a.ZpDType is { } zd) o["zp_dtype"] = zd;
        if (a.Observer is { } ob) o["observer"] = ob;
        try
        {
            using var doc = JsonDocument.Parse(o.ToJsonString());
            return QuantizationArgs.FromJson(doc.RootElement, where);
        }
        catch (QuantizationConfigException e)
        {
            throw new RecipeException(e.Message);
        }
    }
}
