using BenchmarkDotNet.Attributes;
using Offload.Transforms.Apply;

namespace Offload.Bench;

/// <summary>
/// Small Hadamard sizes, where a dense product might beat the FWHT: 16384 rows (activations of a 128-token batch of
/// 128 heads, or one weight) times H of size n, fast path vs OpenBLAS sgemm. Decides TransformFactoryOptions.DenseMaxSize.
/// Run: dotnet run -c Release --project bench/Offload.Bench -- --filter '*HadamardCrossover*'
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class HadamardCrossoverBenchmarks
{
    private const int Rows = 16384;
    private float[] _x = [];
    private float[] _work = [];
    private float[] _dense = [];
    private float[] _out = [];
    private HadamardOperator _op = null!;

    [Params(8, 16, 64, 256, 12, 24, 48, 96, 192)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _op = HadamardOperator.Deterministic(N);
        var rng = new System.Random(2);
        _x = new float[Rows * N];
        for (var i = 0; i < _x.Length; i++) _x[i] = (float)(rng.NextDouble() * 2 - 1);
        _work = new float[_x.Length];
        _out = new float[_x.Length];
        _dense = _op.ToDense().Select(v => (float)(v / Math.Sqrt(N))).ToArray();
    }

    [Benchmark]
    public float Fast()
    {
        Array.Copy(_x, _work, _x.Length);
        _op.MultiplyRows(_work, transpose: false);
        System.Numerics.Tensors.TensorPrimitives.Multiply(_work, (float)(1 / Math.Sqrt(N)), _work);
        return _work[0];
    }

    [Benchmark(Baseline = true)]
    public float DenseGemm()
    {
        HadamardBlas.Multiply(_x, _dense, _out, Rows, N, N, transB: false);
        return _out[0];
    }
}
