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
    /// <summary>
    /// Refuses, naming <paramref name="where"/> (the recipe and line), a target or ignore entry that matches no module of
    /// <paramref name="config"/>'s model (with the nearest module names), and a plan that quantizes no linear at all
    /// (unless it quantizes the kv cache).
    /// `lm_head` always matches: the module exists even when the embeddings are tied and the checkpoint has no lm_head tensor.
    /// </summary>
    public void CheckTargets(LlamaConfig config, string where)
    {
        var modules = ModuleTree.Modules(config);
        foreach (var (kind, target) in Groups.SelectMany(g => g.Targets.Select(t => ("target", t))).Concat(Ignore.Select(t => ("ignore", t))))
        {
            if (modules.Any(m => TargetMatcher.MatchName(m.Name, target) || TargetMatcher.MatchClass(m, target))) continue;
            throw new QuantizationConfigException(
                $"{where}: {kind} '{target}' matches no module of this {config.ArchitectureName} ({config.NumHiddenLayers} layers); nearest: {string.Join(", ", Nearest(target, modules, 3))} — fix or remove it");
        }
        // A kv_cache_scheme alone (no config groups) quantizes the cache, not the linears: a legitimate recipe.
        var resolved = Resolve(config);
        if (KvCacheScheme is null && !resolved.Values.Any(s => s.Weights is not null || s.InputActivations is not null))
            throw new QuantizationConfigException(
                $"{where}: the recipe quantizes 0 linears of this model (targets {string.Join(", ", Groups.SelectMany(g => g.Targets).Distinct())}; ignore {string.Join(", ", Ignore)}); target some linears (e.g. Linear) or ignore fewer");
    }

    /// <summary>The <paramref name="count"/> module or class names closest to <paramref name="target"/> by edit distance (layer indices as '*' for a '*' pattern).</summary>
    public static IReadOnlyList<string> Nearest(string target, IReadOnlyList<ModuleInfo> modules, int count)
    {
        var bare = target.StartsWith("re:", StringComparison.Ordinal) ? target[3..] : target;
        var candidates = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string c)
        {
            if (c.Length > 0 && seen.Add(c)) candidates.Add(c);
        }
        foreach (var m in modules)
        {
            var name = m.Name;
            if (target.Contains('*') && m.LayerIndex >= 0) name = ModuleNames.Layers + ".*" + name[(ModuleNames.Layer(m.LayerIndex).Length)..];
            Add(name);
            foreach (var c in m.ClassNames) Add(c);
        }
        return candidates.Select((c, i) => (c, i, d: Distance(bare, c))).OrderBy(x => x.d).ThenBy(x => x.i).Take(count).Select(x => x.c).ToArray();
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
