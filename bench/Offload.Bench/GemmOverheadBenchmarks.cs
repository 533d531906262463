using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Bench;

/// <summary>
/// The fixed cost our Tensor path adds per GEMM call (shape checks, backend lookup, span pinning, output allocation),
/// measured on products so small that it dominates: the difference from raw <c>cblas_sgemm</c> here bounds the
/// overhead at any size, independent of how busy the machine is.
/// </summary>
[ShortRunJob]
public unsafe class GemmOverheadBenchmarks
{
    private Tensor _a = null!, _b = null!, _c = null!;

    [Params(4, 32)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _a = Tensor.Zeros(DType.F32, N, N);
        _b = Tensor.Zeros(DType.F32, N, N);
        _c = Tensor.Zeros(DType.F32, N, N);
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

    [Benchmark(Description = "Ops.MatMulInto")]
    public void OpsMatMulInto() => Ops.MatMulInto(_a, _b, _c);

    [Benchmark(Description = "Ops.MatMul (allocates C)")]
    public void OpsMatMul()
    {
        using var c = Ops.MatMul(_a, _b);
    }

    [DllImport("libopenblas.so.0", EntryPoint = "cblas_sgemm")]
    private static extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);
}
