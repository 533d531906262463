using BenchmarkDotNet.Attributes;
using Offload.Transforms.Apply;
using Offload.Transforms.Hadamard;
using Offload.Transforms.Random;

namespace Offload.Bench;

// Legend: R = rows of the operand, n = transform size.

/// <summary>
/// x ← x·H/√n for every row of an [R, n] f32 operand: the fast path (FWHT, plus the k×k mix for n = k·2^m) against a
/// dense GEMM with the cached matrix (OpenBLAS sgemm). Issue 5 acceptance: ≥ 20× at [4096, 4096]; ratios at 11008 and
/// 14336. Run: dotnet run -c Release --project bench/Offload.Bench -- --filter '*HadamardApply*'
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
[MemoryDiagnoser]
public class HadamardApplyBenchmarks
{
    private float[] _x = [];       // (R, n)
    private float[] _work = [];    // (R, n)
    private float[] _dense = [];   // (n, n): the cached matrix H/√n
    private float[] _out = [];     // (R, n)
    private HadamardOperator _op = null!;

    /// <summary>"size×rows": a [4096, 4096] weight, and 1024 activation rows at two MLP widths.</summary>
    [Params("4096x4096", "11008x1024", "14336x1024")]
    public string Shape { get; set; } = "4096x4096";

    /// <summary>Deterministic (K ⊗ S with the smallest base) or random-hadamard (compressed-tensors' largest base).</summary>
    [Params("hadamard", "random-hadamard")]
    public string Type { get; set; } = "hadamard";

    private int N => int.Parse(Shape.Split('x')[0]);
    private int Rows => int.Parse(Shape.Split('x')[1]);

    [GlobalSetup]
    public void Setup()
    {
        var n = N;
        _op = Type == "hadamard"
            ? HadamardOperator.Deterministic(n)
            : HadamardOperator.Random(RandomSigns.Draw(new Mt19937(), n), HadamardBases.Get(HadamardSizes.LibraryBaseOrder(n)));
        var rng = new System.Random(1);
        _x = new float[(long)Rows * n];
        for (var i = 0; i < _x.Length; i++) _x[i] = (float)(rng.NextDouble() * 2 - 1);
        _work = new float[_x.Length];
        _out = new float[_x.Length];
        var dense = _op.ToDense();
        var scale = 1 / Math.Sqrt(n);
        _dense = new float[dense.Length];
        for (var i = 0; i < dense.Length; i++) _dense[i] = (float)(dense[i] * scale);
        if (!HadamardBlas.Available) throw new InvalidOperationException("libopenblas.so.0 is needed for the dense baseline (apt-get install libopenblas0-pthread)");
    }

    /// <summary>FWHT (+ k×k mix) on every row, then the 1/√n scale.</summary>
    [Benchmark]
    public float Fast()
    {
        Array.Copy(_x, _work, _x.Length);
        _op.MultiplyRows(_work, transpose: false);
        System.Numerics.Tensors.TensorPrimitives.Multiply(_work, (float)(1 / Math.Sqrt(N)), _work);
        return _work[0];
    }

    /// <summary>One sgemm with the cached dense matrix: [R, n]·[n, n].</summary>
    [Benchmark(Baseline = true)]
    public float DenseGemm()
    {
        HadamardBlas.Multiply(_x, _dense, _out, Rows, N, N, transB: false);
        return _out[0];
    }
}
