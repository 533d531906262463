using System.Text.Json.Nodes;
using Offload.Model.Synthetic;

namespace Offload.Model.Tests;

/// <summary>
/// Scratch folders under one temporary root per test process, deleted when the process exits; roots left by test
/// processes that no longer run (the test host may be killed rather than exit) are deleted on the next run.
/// </summary>
public static class TestDirs
{
    private const string Prefix = "offload-model-tests-";

    private static readonly Lazy<string> s_root = new(() =>
    {
        DeleteStaleRoots();
        var root = Path.Combine(Path.GetTempPath(), Prefix + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return root;
    });

    private static void DeleteStaleRoots()
    {
        foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), Prefix + "*"))
        {
            var rest = Path.GetFileName(dir)[Prefix.Length..];
            var dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                using var p = System.Diagnostics.Process.GetProcessById(pid);
                continue; // still running
            }
            catch (ArgumentException)
            {
                // no such process: its scratch root is stale
            }
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>A path for a new folder (not created).</summary>
    public static string New(string name) => Path.Combine(s_root.Value, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Writes a synthetic checkpoint, then lets <paramref name="editConfig"/> change its config.json.</summary>
    public static string Synth(SynthOptions options, Action<JsonObject>? editConfig = null, string name = "synth")
    {
        var dir = New(name);
        SyntheticCheckpoint.Write(dir, options);
        if (editConfig is not null)
        {
            var path = Path.Combine(dir, "config.json");
            var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            editConfig(json);
            File.WriteAllText(path, json.ToJsonString());
        }
        return dir;
    }
}
