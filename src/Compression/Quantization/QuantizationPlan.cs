using Offload.Model.Config;
using Offload.Model.Naming;

namespace Offload.Compression.Quantization;

/// <summary>
/// Which scheme each module of a model gets: the config groups (in order) and the ignore list, resolved over the module
/// tree the way compressed-tensors matches targets (most specific matching target wins: exact name, then pattern, then
/// class; among groups with the same target the later one). Only decoder-layer linears can be quantized here; a
/// targeted lm_head must be ignored.
/// </summary>
public sealed class QuantizationPlan
{
    public QuantizationPlan(IReadOnlyList<QuantizationScheme> groups, IReadOnlyList<string>? ignore = null, QuantizationArgs? kvCacheScheme = null)
    {
        Groups = groups.ToArray();
        Ignore = ignore?.ToArray() ?? [];
        KvCacheScheme = kvCacheScheme;
    }

    public IReadOnlyList<QuantizationScheme> Groups { get; }
    public IReadOnlyList<string> Ignore { get; }
    public QuantizationArgs? KvCacheScheme { get; }

    /// <summary>One scheme for every Linear except lm_head (the usual recipe).</summary>
    public static QuantizationPlan ForLinears(QuantizationScheme scheme) =>
        new([scheme.WithTargets(["Linear"])], ["lm_head"]);

    /// <summary>The scheme of <paramref name="module"/>, or null when no group targets it or it is ignored.</summary>
    public QuantizationScheme? SchemeOf(ModuleInfo module)
    {
        foreach (var t in Ignore)
            if (TargetMatcher.MatchName(module.Name, t) || TargetMatcher.MatchClass(module, t)) return null;
        QuantizationScheme? best = null;
        var bestRank = int.MaxValue;
        foreach (var g in Groups)
        {
            foreach (var t in g.Targets)
            {
                var rank = TargetMatcher.MatchName(module.Name, t)
                    ? (t.StartsWith("re:", StringComparison.Ordinal) || t.Contains('*') ? 1 : 0)
                    : TargetMatcher.MatchClass(module, t) ? 2 : int.MaxValue;
                if (rank <= bestRank && rank != int.MaxValue)
                {
                    bestRank = rank;
                    best = g;
                }
            }
        }
        return best;
    }

    /// <summary>Module name → scheme for every quantized module of <paramref name="config"/>'s model (named_modules order).</summary>
    public IReadOnlyDictionary<string, QuantizationScheme> Resolve(LlamaConfig config)
    {
        var result = new Dictionary<string, QuantizationScheme>(StringComparer.Ordinal);
        foreach (var m in ModuleTree.Modules(config))
        {
            var s = SchemeOf(m);
            if (s is null || (s.Weights is null && s.InputActivations is null && s.OutputActivations is null)) continue;
            if (m.LayerIndex < 0 || !m.ClassNames.Contains("Linear"))
                throw new QuantizationConfigException($"quantization plan: module '{m.Name}' ({m.ClassName}) is targeted but only decoder-layer linears are quantized; add it to ignore");
            if (s.OutputActivations is not null)
                throw new QuantizationConfigException($"quantization plan: output activation quantization of '{m.Name}' is not supported; remove output_activations");
            result[m.Name] = s;
        }
        return result;
    }
}
