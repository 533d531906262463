using System.Security.Cryptography;
using System.Text;

namespace Offload.Coordinator.Job;

/// <summary>
/// The checksums of the work folder's files: a file's SHA-256 in a sidecar "&lt;file&gt;.sha256", a folder's (the
/// rotated model) in "&lt;folder&gt;.sha256" listing every file under it — written durably after the file itself, and
/// checked on --resume. A file without its sidecar was being written when the run stopped; one whose hash differs is damaged.
/// </summary>
public static class WorkChecksum
{
    public const string Suffix = ".sha256";

    public static string Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Records the SHA-256 of <paramref name="path"/> beside it.</summary>
    public static void Seal(string path) => DurableFile.WriteAllText(path + Suffix, Of(path) + "\n");

    /// <summary>Null when <paramref name="path"/> matches its recorded SHA-256, else what is wrong with it.</summary>
    public static string? Problem(string path)
    {
        if (!File.Exists(path)) return "missing";
        if (!File.Exists(path + Suffix)) return "without its checksum (the run stopped while writing it)";
        var recorded = File.ReadAllText(path + Suffix).Trim();
        return recorded == Of(path) ? null : "damaged (its SHA-256 is not the recorded one)";
    }

    /// <summary>Records the SHA-256 of every file under <paramref name="dir"/> in "&lt;dir&gt;.sha256".</summary>
    public static void SealFolder(string dir) => DurableFile.WriteAllText(dir + Suffix, Listing(dir));

    /// <summary>Null when every file under <paramref name="dir"/> matches the listing, else the first file that does not and why.</summary>
    public static string? FolderProblem(string dir)
    {
        if (!Directory.Exists(dir)) return $"{dir}: missing";
        if (!File.Exists(dir + Suffix)) return $"{dir}: without its checksums (the run stopped while writing it)";
        var recorded = Parse(File.ReadAllText(dir + Suffix));
        var actual = Files(dir);
        foreach (var rel in recorded.Keys.Union(actual, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var path = Path.Combine(dir, rel);
            if (!recorded.TryGetValue(rel, out var hash)) return $"{path}: not written by the run";
            if (!File.Exists(path)) return $"{path}: missing";
            if (Of(path) != hash) return $"{path}: damaged (its SHA-256 is not the recorded one)";
        }
        return null;
    }

    private static string Listing(string dir)
    {
        var sb = new StringBuilder();
        foreach (var rel in Files(dir)) sb.Append(Of(Path.Combine(dir, rel))).Append("  ").Append(rel).Append('\n');
        return sb.ToString();
    }

    private static List<string> Files(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f)).Order(StringComparer.Ordinal).ToList();

    private static Dictionary<string, string> Parse(string text)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var i = line.IndexOf("  ", StringComparison.Ordinal);
            if (i > 0) map[line[(i + 2)..]] = line[..i];
        }
        return map;
    }
}
