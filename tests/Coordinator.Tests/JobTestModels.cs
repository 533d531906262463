using Offload.Model.Config;
using Offload.Model.Synthetic;
using Offload.Protocol;

namespace Offload.Coordinator.Tests;

/// <summary>Small synthetic checkpoints in temp folders and seeded token windows for the job tests.</summary>
internal static class JobTestModels
{
    /// <summary>16 layers of hidden 64 (f32: 177.5 KiB of parameters per layer; ≈ 3.1 MB in all).</summary>
    public static SynthOptions Deep(DType dtype = DType.F32, bool tie = false, long seed = 5) => new()
    {
        Layers = 16, Hidden = 64, Intermediate = 172, Heads = 4, KvHeads = 2, Vocab = 512, DType = dtype, TieEmbeddings = tie, Seed = seed,
        Outliers = 2,
    };

    /// <summary>6 layers of hidden 32 (fast: for the process and journal tests).</summary>
    public static SynthOptions Small(long seed = 9) => new()
    {
        Layers = 6, Hidden = 32, Intermediate = 64, Heads = 4, KvHeads = 2, Vocab = 512, DType = DType.BF16, Seed = seed,
    };

    public static (string Dir, LlamaConfig Config) Write(TempDir temp, SynthOptions options, string name = "model")
    {
        var dir = Path.Combine(temp.Path, name);
        var config = SyntheticCheckpoint.Write(dir, options);
        return (dir, config);
    }

    /// <summary>count · seq token ids in [0, vocab), seeded.</summary>
    public static int[] Windows(int count, int seq, int vocab, int seed)
    {
        var rng = new Random(seed);
        var t = new int[count * seq];
        for (var i = 0; i < t.Length; i++) t[i] = rng.Next(vocab);
        return t;
    }
}

/// <summary>A temp folder deleted with the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"offload-job-{Guid.NewGuid():N}");

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
