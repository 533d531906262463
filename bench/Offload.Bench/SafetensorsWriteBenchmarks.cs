using BenchmarkDotNet.Attributes;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Bench;

/// <summary>
/// Streaming a 256 MiB checkpoint (16 tensors of 16 MiB, 64 MiB shards): declared descriptors (one pass) against
/// incremental (spill + copy per shard), and reading it back through the mapping.
/// `dotnet run -c Release --project bench/Offload.Bench -- --filter '*SafetensorsWrite*'`
/// </summary>
[MemoryDiagnoser]
public class SafetensorsWriteBenchmarks
{
    private const int Count = 16;
    private const long TensorElements = 4L << 20; // f32: 16 MiB each
    private const long MaxShardBytes = 64L << 20;

    private string _dir = "";
    private Tensor _tensor = null!;
    private TensorDescriptor[] _descriptors = [];

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "offload-bench-safetensors-write-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _tensor = Tensor.Zeros(DType.F32, TensorElements);
        var s = _tensor.Span<float>();
        for (var i = 0; i < s.Length; i++) s[i] = i * 0.25f;
        _descriptors = new TensorDescriptor[Count];
        for (var i = 0; i < Count; i++) _descriptors[i] = new TensorDescriptor($"t{i}", DType.F32, [TensorElements]);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _tensor.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public int WriteDeclared()
    {
        using var w = SafetensorsCheckpointWriter.Create(Path.Combine(_dir, "declared"), _descriptors, MaxShardBytes);
        foreach (var d in _descriptors) w.Write(d.Name, _tensor);
        return w.Commit().Count;
    }

    [Benchmark]
    public int WriteIncremental()
    {
        using var w = SafetensorsCheckpointWriter.CreateIncremental(Path.Combine(_dir, "incremental"), MaxShardBytes);
        foreach (var d in _descriptors) w.Write(d.Name, _tensor);
        return w.Commit().Count;
    }

    [Benchmark]
    public double ReadBackThroughMapping()
    {
        var dir = Path.Combine(_dir, "read");
        if (!Directory.Exists(dir)) WriteTo(dir);
        using var ckpt = SafetensorsCheckpoint.Open(dir);
        double sum = 0;
        foreach (var d in ckpt.Tensors)
        {
            using var t = ckpt.Get(d.Name);
            var s = t.ReadOnlySpan<float>();
            for (var i = 0; i < s.Length; i += 1024) sum += s[i]; // touches every page
        }
        return sum;
    }

    private void WriteTo(string dir)
    {
        using var w = SafetensorsCheckpointWriter.Create(dir, _descriptors, MaxShardBytes);
        foreach (var d in _descriptors) w.Write(d.Name, _tensor);
        w.Commit();
    }
}
