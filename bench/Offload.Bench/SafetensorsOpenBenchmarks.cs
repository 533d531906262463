using BenchmarkDotNet.Attributes;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Bench;

/// <summary>
/// Opening a safetensors file (map + strict header parse) and taking zero-copy views of every tensor, for headers
/// of 1k and 10k tensors (a 70B Llama checkpoint has ~700 tensors per shard).
/// `dotnet run -c Release --project bench/Offload.Bench -- --filter '*SafetensorsOpen*'`
/// </summary>
[MemoryDiagnoser]
public class SafetensorsOpenBenchmarks
{
    private string _dir = "";
    private string _path = "";
    private string[] _names = [];

    [Params(1_000, 10_000)]
    public int Tensors { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "offload-bench-safetensors-open-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _path = Path.Combine(_dir, "model.safetensors");
        _names = new string[Tensors];
        var descriptors = new TensorDescriptor[Tensors];
        for (var i = 0; i < Tensors; i++)
        {
            _names[i] = $"model.layers.{i / 10}.mlp.proj_{i % 10}.weight";
            descriptors[i] = new TensorDescriptor(_names[i], DType.BF16, [16, 8]);
        }
        using var t = Tensor.Zeros(DType.BF16, 16, 8);
        using var w = SafetensorsStreamWriter.Create(_path, descriptors);
        foreach (var n in _names) w.Write(n, t);
        w.Commit();
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [Benchmark]
    public int Open()
    {
        using var f = SafetensorsFile.Open(_path);
        return f.Tensors.Count;
    }

    [Benchmark]
    public long OpenAndViewEveryTensor()
    {
        using var f = SafetensorsFile.Open(_path);
        long bytes = 0;
        foreach (var n in _names)
        {
            using var t = f.Get(n);
            bytes += t.ByteLength;
        }
        return bytes;
    }
}
