using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Offload.Model.Config;
using Offload.Model.SafeTensors;

namespace Offload.Coordinator.Job;

/// <summary>
/// What a journal belongs to, as three SHA-256 hex digests: the model (config.json, every tensor descriptor and the tensor bytes),
/// the job (what it computes, its options and its input tokens) and the code (version and the identity of the
/// assemblies that compute). The devices and budgets are not part of it: results do not depend on them.
/// </summary>
public sealed record JobFingerprint(string Model, string Job, string Code)
{
    public static JobFingerprint Compute(string modelDir, SafetensorsCheckpoint checkpoint, string jobDescription, int seqLen, int batchRows, ReadOnlySpan<int> tokens)
    {
        return new JobFingerprint(ModelHash(modelDir, checkpoint), JobHash(jobDescription, seqLen, batchRows, tokens), CodeHash());
    }

    /// <summary>
    /// config.json, every tensor descriptor and the bytes of every safetensors file (their content, not their sizes or
    /// times: a model changed between a kill and --resume is another model). The files are hashed in 16 MiB chunks on
    /// every core (a hash of the chunk hashes), once per process for a file whose length and time are unchanged.
    /// </summary>
    public static string ModelHash(string modelDir, SafetensorsCheckpoint checkpoint)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(File.ReadAllBytes(Path.Combine(modelDir, LlamaConfig.FileName)));
        foreach (var d in checkpoint.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
            h.AppendData(Encoding.UTF8.GetBytes($"\n{d.Name}|{d.DType}|{string.Join(",", d.Shape)}"));
        foreach (var path in checkpoint.Files.Select(f => Path.GetFullPath(f.Path)).Order(StringComparer.Ordinal))
            h.AppendData(Encoding.UTF8.GetBytes($"\n{Path.GetFileName(path)}={ContentHash(path)}"));
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    private const int ChunkBytes = 16 << 20;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, long, DateTime), string> s_contentHashes = new();

    /// <summary>SHA-256 over the SHA-256 of each 16 MiB chunk of <paramref name="path"/> (chunks hashed in parallel).</summary>
    public static string ContentHash(string path)
    {
        var info = new FileInfo(path);
        var key = (info.FullName, info.Length, info.LastWriteTimeUtc);
        if (s_contentHashes.TryGetValue(key, out var known)) return known;
        var chunks = (int)((info.Length + ChunkBytes - 1) / ChunkBytes);
        var digests = new byte[Math.Max(chunks, 0) * 32];
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess))
        {
            Parallel.For(0, chunks, () => new byte[ChunkBytes], (c, _, buffer) =>
            {
                var offset = (long)c * ChunkBytes;
                var length = (int)Math.Min(ChunkBytes, info.Length - offset);
                var read = 0;
                while (read < length)
                {
                    var n = RandomAccess.Read(handle, buffer.AsSpan(read, length - read), offset + read);
                    if (n <= 0) throw new IOException($"'{path}': the file ended early while hashing it");
                    read += n;
                }
                SHA256.HashData(buffer.AsSpan(0, length), digests.AsSpan(c * 32, 32));
                return buffer;
            }, _ => { });
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(digests)) + string.Create(CultureInfo.InvariantCulture, $":{info.Length}");
        s_contentHashes[key] = hash;
        return hash;
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
