using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using Xunit;

namespace Offload.Runtime.Tests;

/// <summary>cluster-config/akka-settings.md stays true: every setting RuntimeConfig writes is documented there, and every path documented exists.</summary>
public sealed partial class SettingsDocumentationTests
{
    private static string Doc()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "cluster-config", "akka-settings.md");
            if (File.Exists(path)) return File.ReadAllText(path);
        }
        throw new FileNotFoundException("cluster-config/akka-settings.md not found above " + AppContext.BaseDirectory);
    }

    private static IEnumerable<string> Leaves(HoconValue value, string path)
    {
        if (value.IsObject())
        {
            foreach (var (key, child) in value.GetObject().Items)
                foreach (var leaf in Leaves(child, path.Length == 0 ? key : $"{path}.{key}"))
                    yield return leaf;
        }
        else yield return path;
    }

    [Fact]
    public void Every_written_setting_is_documented_with_its_full_path_or_its_row()
    {
        var doc = Doc();
        var config = ConfigurationFactory.ParseString(RuntimeConfig.BuildHocon(new RuntimeSettings()));
        var leaves = Leaves(config.Root, "").ToList();
        Assert.True(leaves.Count > 25, $"{leaves.Count} leaves");
        var missing = new List<string>();
        foreach (var leaf in leaves)
        {
            // Rows either name the full path, or (persistence) a pattern such as `…sql.provider-name` / `akka.persistence.{journal,snapshot-store}.sql.connection-string`.
            var key = leaf[(leaf.LastIndexOf('.') + 1)..];
            var documented = doc.Replace("\"", "").Contains('`' + leaf + '`')   // quoted keys (type names) lose their quotes in HOCON
                || doc.Contains(".sql." + key + '`')
                || doc.Contains("sql." + key + "` (");
            if (!documented) missing.Add(leaf);
        }
        Assert.True(missing.Count == 0, "not in cluster-config/akka-settings.md: " + string.Join(", ", missing));
    }

    [Fact]
    public void Every_documented_akka_path_is_written()
    {
        var config = RuntimeConfig.Build(new RuntimeSettings());
        var stale = DocumentedPath().Matches(Doc()).Select(m => m.Groups[1].Value)
            .Where(p => !p.Contains('{') && !p.Contains('"') && !p.EndsWith(".tcp.batching.enabled", StringComparison.Ordinal) && !config.HasPath(p))
            .ToList();
        Assert.True(stale.Count == 0, "documented but not written: " + string.Join(", ", stale));
    }

    [GeneratedRegex(@"^\| `((?:akka|offload)\.[^`]+)`", RegexOptions.Multiline)]
    private static partial Regex DocumentedPath();
}
