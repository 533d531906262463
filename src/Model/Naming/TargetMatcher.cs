using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;

namespace Offload.Model.Naming;

/// <summary>
/// Target matching as compressed-tensors does it. A target matches a module when it is
/// <list type="bullet">
/// <item>`re:PATTERN`: the regular expression matches at the start of the module name (Python's `re.match`);</item>
/// <item>a path pattern with `*` (`model.layers.*.mlp`): the whole name matches, each `*` standing for any run of
/// characters inside one dotted segment;</item>
/// <item>otherwise the exact module name, or a class name in the module's class chain (`Linear`, `LlamaDecoderLayer`).</item>
/// </list>
/// </summary>
public static class TargetMatcher
{
    private static readonly ConcurrentDictionary<string, Regex> s_regexes = new(StringComparer.Ordinal);

    /// <summary>Whether the target matches the name (regex, path pattern or exact name).</summary>
    public static bool MatchName(string name, string target)
    {
        if (target.StartsWith("re:", StringComparison.Ordinal) || target.Contains('*'))
            return RegexOf(target).IsMatch(name);
        return string.Equals(target, name, StringComparison.Ordinal);
    }

    /// <summary>Whether the target is one of the module's class names.</summary>
    public static bool MatchClass(ModuleInfo module, string target)
    {
        foreach (var c in module.ClassNames)
            if (string.Equals(c, target, StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>Whether any target matches the module (by name or class) and no ignore entry does.</summary>
    public static bool IsMatch(ModuleInfo module, IEnumerable<string> targets, IEnumerable<string>? ignore = null)
    {
        var hit = false;
        foreach (var t in targets)
        {
            if (MatchName(module.Name, t) || MatchClass(module, t))
            {
                hit = true;
                break;
            }
        }
        if (!hit || ignore is null) return hit;
        foreach (var t in ignore)
            if (MatchName(module.Name, t) || MatchClass(module, t)) return false;
        return true;
    }

    /// <summary>The modules matching <paramref name="targets"/> and not <paramref name="ignore"/>, in the given (named_modules) order.</summary>
    public static IEnumerable<ModuleInfo> MatchModules(IEnumerable<ModuleInfo> modules, IReadOnlyCollection<string> targets, IReadOnlyCollection<string>? ignore = null)
    {
        foreach (var m in modules)
            if (IsMatch(m, targets, ignore)) yield return m;
    }

    /// <summary>
    /// The targets that match a module, most specific first: exact names, then patterns (`re:` and `*`), then class
    /// names; within each group in ordinal order, as compressed-tensors' `match_targets` sorts them.
    /// </summary>
    public static IReadOnlyList<string> MatchTargets(ModuleInfo module, IEnumerable<string> targets)
    {
        var sorted = targets.OrderBy(t => IsPattern(t) ? 1 : 0).ThenBy(t => t, StringComparer.Ordinal).ToList();
        var result = new List<string>();
        foreach (var t in sorted)
            if (MatchName(module.Name, t)) result.Add(t);
        foreach (var t in sorted)
            if (MatchClass(module, t) && !result.Contains(t)) result.Add(t);
        return result;
    }

    private static bool IsPattern(string target) => target.StartsWith("re:", StringComparison.Ordinal) || target.Contains('*');

    private static Regex RegexOf(string target) => s_regexes.GetOrAdd(target, static t =>
    {
        if (t.StartsWith("re:", StringComparison.Ordinal))
        {
            try
            {
                return new Regex(@"\A(?:" + t[3..] + ")", RegexOptions.CultureInvariant);
            }
            catch (ArgumentException ex)
            {
                throw new ModelConfigException($"target '{t}': not a valid regular expression ({ex.Message.Split('\n')[0]}); fix the recipe");
            }
        }
        var sb = new StringBuilder(@"\A");
        var parts = t.Split('*');
        for (var i = 0; i < parts.Length; i++)
        {
            if (i > 0) sb.Append(@"[^.]*");
            sb.Append(Regex.Escape(parts[i]));
        }
        sb.Append(@"\z");
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant);
    });
}
