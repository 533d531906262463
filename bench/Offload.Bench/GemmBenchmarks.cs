using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Kernels;

namespace Offload.Bench;

/// <summary>
/// Square f32 GEMM, C = A·B: our Tensor path (<see cref="Ops.MatMul"/>, which allocates its output, and
/// <see cref="Ops.MatMulInto"/>) against raw <c>cblas_sgemm</c> called straight on the same memory, plus the managed
/// fallback. The GFLOP/s columns count 2·N³ flops over the mean and over the fastest iteration; "vs raw" divides by the
/// raw cblas_sgemm figure of the same N.
/// Run: <c>dotnet run -c Release --project bench/Offload.Bench -- --filter '*Gemm*'</c>.
/// </summary>
[Config(typeof(Config))]
public unsafe class GemmBenchmarks
{
    private Tensor _a = null!, _b = null!, _c = null!;

    [Params(512, 2048, 4096)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        _a = Tensor.Empty(DType.F32, N, N);
        _b = Tensor.Empty(DType.F32, N, N);
        _c = Tensor.Empty(DType.F32, N, N);
        foreach (var t in new[] { _a, _b, _c })
        {
            var s = t.Span<float>();
            for (var i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() - 0.5);
        }
        if (Blas.Current is not { IsNative: true }) throw new InvalidOperationException($"the Tensor path runs on {Blas.Current}, not OpenBLAS");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _a.Dispose();
        _b.Dispose();
        _c.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw cblas_sgemm")]
    public void RawCblas() =>
        cblas_sgemm(101, 111, 111, N, N, N, 1f, (float*)_a.Pointer, N, (float*)_b.Pointer, N, 0f, (float*)_c.Pointer, N);

    [Benchmark(Description = "Ops.MatMul (allocates C)")]
    public void OpsMatMul()
    {
        using var c = Ops.MatMul(_a, _b);
    }

    [Benchmark(Description = "Ops.MatMulInto")]
    public void OpsMatMulInto() => Ops.MatMulInto(_a, _b, _c);

    [Benchmark(Description = "managed fallback")]
    public void Managed() =>
        Blas.Managed.Sgemm(false, false, N, N, N, 1f, _a.ReadOnlySpan<float>(), N, _b.ReadOnlySpan<float>(), N, 0f, _c.Span<float>(), N);

    [DllImport("libopenblas.so.0", EntryPoint = "cblas_sgemm")]
    private static extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    /// <summary>A short job (the 4096 managed case takes seconds per call) plus the throughput columns.</summary>
    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(7).WithId("short"));
            AddColumn(StatisticColumn.Min);
            foreach (var relative in new[] { false, true })
            foreach (var best in new[] { false, true })
                AddColumn(new GemmGflopsColumn(relative, best));
        }
    }
}
