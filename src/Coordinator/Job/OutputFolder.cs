using System.Text.Json;
using Offload.Model.Config;
using Offload.Model.SafeTensors;
using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>
/// Refusals about where a run writes and what it reads, made before the work folder exists: an --out that is an
/// existing file, one under a file, one on a read-only file system or in a folder this process cannot write, a file
/// where the work folder goes; and a model folder that is already a compressed (quantized) checkpoint.
/// </summary>
public static class OutputFolder
{
    /// <summary>Refuses (<see cref="OffloadException"/>, one line) an output path the run could not write; creates nothing.</summary>
    /// <param name="workDir">the work folder beside it (a file there is refused), or null.</param>
    public static void Check(string outDir, string option = "--out", string? workDir = null)
    {
        var full = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        if (full.Length == 0) full = "/";
        if (File.Exists(full))
            throw new OffloadException($"{full}: {option} names an existing file; give a folder that does not exist or is empty");
        if (workDir is not null && File.Exists(workDir))
            throw new OffloadException($"{workDir}: a file is where the work folder of {option} {full} goes; remove it or choose another {option}");
        // The nearest folder that exists: everything below it is created by the run, so it must be a folder we can write.
        var existing = Path.GetDirectoryName(full);
        while (existing is not null && !Directory.Exists(existing))
        {
            if (File.Exists(existing))
                throw new OffloadException($"{full}: {option} cannot be created: {existing} is a file, not a folder; choose another {option}");
            existing = Path.GetDirectoryName(existing);
        }
        if (existing is null) return;
        var probe = Path.Combine(existing, $".offload-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var errno = ex.HResult & 0xFFFF;
            var why = errno == 30 || ex.Message.Contains("read-only file system", StringComparison.OrdinalIgnoreCase)
                ? $"{existing} is on a read-only file system; choose an {option} on a writable disk"
                : ex is UnauthorizedAccessException
                    ? $"cannot write in {existing} (permission denied); choose another {option} or fix the folder's permissions"
                    : $"cannot create folders in {existing}; choose another {option} on a writable disk";
            throw new OffloadException($"{full}: {option}: {why}");
        }
    }

    /// <summary>
    /// Refuses a model folder that is already compressed: config.json with a quantization_config or compression_config
    /// (compressed-tensors, GPTQ, AWQ, …) or packed / quantized tensors (weight_packed, weight_scale, …).
    /// </summary>
    public static void RefuseCompressed(string modelDir, string option = "--model")
    {
        var configPath = Path.Combine(modelDir, LlamaConfig.FileName);
        if (File.Exists(configPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(configPath), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    foreach (var key in new[] { "quantization_config", "compression_config" })
                    {
                        if (!doc.RootElement.TryGetProperty(key, out var q) || q.ValueKind == JsonValueKind.Null) continue;
                        var method = q.ValueKind == JsonValueKind.Object && q.TryGetProperty("quant_method", out var m) && m.ValueKind == JsonValueKind.String
                            ? m.GetString() : null;
                        throw new OffloadException($"{modelDir}: already compressed (config.json has a {key}{(method is null ? "" : $", quant_method {method}")}); " +
                            $"pass the original unquantized model as {option}");
                    }
                }
            }
            catch (JsonException)
            {
                // config.json's syntax is reported by the config loader, with line and column.
            }
        }
        if (!Directory.Exists(modelDir)) return;
        string? packed = null;
        try
        {
            using var checkpoint = SafetensorsCheckpoint.Open(modelDir);
            packed = checkpoint.Names.Where(IsQuantizedTensor).Order(StringComparer.Ordinal).FirstOrDefault();
        }
        catch (Exception ex) when (ex is OffloadException or IOException)
        {
            // A damaged or missing safetensors file is reported by the checkpoint checks.
        }
        if (packed is not null)
            throw new OffloadException($"{modelDir}: already compressed (it holds quantized tensors such as {packed}); pass the original unquantized model as {option}");
    }

    private static readonly string[] s_quantizedSuffixes =
        [".weight_packed", ".weight_scale", ".weight_zero_point", ".weight_global_scale", ".weight_g_idx", ".qweight", ".qzeros", ".scales", ".SCB"];

    private static bool IsQuantizedTensor(string name) => s_quantizedSuffixes.Any(s => name.EndsWith(s, StringComparison.Ordinal));

    /// <summary>Removes the temporary output folders ("&lt;out&gt;.tmp-*") a killed run's checkpoint writer left beside <paramref name="outFull"/>.</summary>
    public static IReadOnlyList<string> RemoveDebris(string outFull)
    {
        var parent = Path.GetDirectoryName(outFull);
        if (parent is null || !Directory.Exists(parent)) return [];
        var removed = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories(parent, Path.GetFileName(outFull) + ".tmp-*"))
        {
            var suffix = Path.GetFileName(dir)[(Path.GetFileName(outFull).Length + ".tmp-".Length)..];
            if (suffix.Length != 32 || !suffix.All(Uri.IsHexDigit)) continue; // only the writer's own names (a Guid "N")
            // A writer still running (Ctrl+C) may add a file while the folder is removed: a few tries.
            for (var attempt = 0; attempt < 3 && Directory.Exists(dir); attempt++)
            {
                try
                {
                    Directory.Delete(dir, recursive: true);
                    removed.Add(dir);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    Thread.Sleep(20);
                }
            }
        }
        return removed;
    }
}
