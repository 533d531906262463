using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Offload.Transforms.Config;

namespace Offload.Transforms;

/// <summary>
/// compressed-tensors' target matching: a target is an exact module name, "re:&lt;pattern&gt;" (Python re.match, so
/// anchored at the start only — "re:.*q_proj$" is how a suffix is written), or a class name the module answers to.
/// </summary>
public static class TransformTargetMatcher
{
    private static readonly ConcurrentDictionary<string, Regex> s_regexes = new();

    /// <summary>True when <paramref name="module"/> matches <paramref name="target"/>.</summary>
    public static bool Matches(TransformTarget module, string target)
    {
        if (target.StartsWith("re:", StringComparison.Ordinal))
        {
            var regex = s_regexes.GetOrAdd(target, t => new Regex(@"\A(?:" + t[3..] + ")", RegexOptions.CultureInvariant));
            return regex.IsMatch(module.Name);
        }
        return module.Name == target || module.ClassNames.Contains(target);
    }

    /// <summary>True when the module matches some target and no ignore entry.</summary>
    public static bool Matches(TransformTarget module, TransformArgs args) =>
        args.Targets.Any(t => Matches(module, t)) && !args.Ignore.Any(t => Matches(module, t));
}
