using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Offload.Model.Config;
using Offload.Model.SafeTensors;

namespace Offload.Coordinator.Job;

/// <summary>
/// What a journal belongs to, as three SHA-256 hex digests: the model (config.json and every tensor descriptor),
/// the job (what it computes, its options and its input tokens) and the code (version and the identity of the
/// assemblies that compute). The devices and budgets are not part of it: results do not depend on them.
/// </summary>
public sealed record JobFingerprint(string Model, string Job, string Code)
{
    public static JobFingerprint Compute(string modelDir, SafetensorsCheckpoint checkpoint, string jobDescription, int seqLen, int batchRows, ReadOnlySpan<int> tokens)
    {
        return new JobFingerprint(ModelHash(modelDir, checkpoint), JobHash(jobDescription, seqLen, batchRows, tokens), CodeHash());
    }

    public static string ModelHash(string modelDir, SafetensorsCheckpoint checkpoint)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(File.ReadAllBytes(Path.Combine(modelDir, LlamaConfig.FileName)));
        foreach (var d in checkpoint.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
            h.AppendData(Encoding.UTF8.GetBytes($"\n{d.Name}|{d.DType}|{string.Join(",", d.Shape)}"));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    public static string JobHash(string description, int seqLen, int batchRows, ReadOnlySpan<int> tokens)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{description}|seq={seqLen}|batch={batchRows}|tokens={tokens.Length}|")));
        h.AppendData(MemoryMarshal.AsBytes(tokens));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>The version plus the module version ids of the assemblies on the compute path (they change with the code).</summary>
    public static string CodeHash()
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Assembly[] assemblies =
        [
            typeof(JobFingerprint).Assembly,
            typeof(DeviceActors.LayerShard).Assembly,
            typeof(Model.Forward.CausalLM).Assembly,
            typeof(Tensors.Tensor).Assembly,
        ];
        foreach (var a in assemblies)
        {
            h.AppendData(Encoding.UTF8.GetBytes($"{a.GetName().Name}|{a.GetName().Version}|{a.ManifestModule.ModuleVersionId}\n"));
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>The name of the first component that differs from <paramref name="other"/>, or null when equal.</summary>
    public string? FirstDifference(JobFingerprint other) =>
        Model != other.Model ? "model (config.json or tensors)"
        : Job != other.Job ? "job options or input tokens"
        : Code != other.Code ? "code version"
        : null;
}
