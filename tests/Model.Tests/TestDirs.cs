using System.Text.Json.Nodes;
using Offload.Model.Synthetic;

namespace Offload.Model.Tests;

/// <summary>Scratch folders under one temporary root, deleted when the process ends.</summary>
public static class TestDirs
{
    private static readonly Lazy<string> s_root = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), "offload-model-tests-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return root;
    });

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
