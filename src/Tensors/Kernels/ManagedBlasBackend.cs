using System.Runtime.Intrinsics;

namespace Offload.Tensors.Kernels;

/// <summary>
/// The managed fallback: <see cref="ManagedGemm"/> (packed panels, Vector256 FMA micro-kernel, split over the
/// cores) and <see cref="ManagedLapack"/> for SYRK/POTRF/TRTRI/POTRI. Same results as OpenBLAS to rounding.
/// </summary>
internal sealed unsafe class ManagedBlasBackend : BlasBackend
{
    internal ManagedBlasBackend(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
    }

    public override string Name => "managed";

    public override string Description =>
        $"{ManagedGemm.MR}×{2 * Vector256<float>.Count} f32 micro-kernel, Vector256 {(System.Runtime.Intrinsics.X86.Fma.IsSupported ? "FMA" : "multiply-add")}; install OpenBLAS ({Blas.InstallHint}) for full speed";

    public override int Threads { get; }
    public override bool IsNative => false;

    internal override void SgemmCore(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc) =>
        ManagedGemm.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, Threads);

    internal override void DgemmCore(bool transA, bool transB, int m, int n, int k, double alpha,
        double* a, int lda, double* b, int ldb, double beta, double* c, int ldc) =>
        ManagedGemm.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, Threads);

    internal override void SgemmBatchedCore(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, long strideA, float* b, int ldb, long strideB, float beta, float* c, int ldc, long strideC, int batch)
    {
        var (pa, pb, pc) = ((nint)a, (nint)b, (nint)c);
        // Many small products (attention heads) parallelise better over the batch than inside each product.
        if (Threads > 1 && batch >= Threads)
            Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = Threads }, i =>
                ManagedGemm.Serial(transA, transB, m, n, k, alpha, (float*)pa + i * strideA, lda, (float*)pb + i * strideB, ldb, beta, (float*)pc + i * strideC, ldc));
        else
            base.SgemmBatchedCore(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);
    }

    internal override void DgemmBatchedCore(bool transA, bool transB, int m, int n, int k, double alpha,
        double* a, int lda, long strideA, double* b, int ldb, long strideB, double beta, double* c, int ldc, long strideC, int batch)
    {
        var (pa, pb, pc) = ((nint)a, (nint)b, (nint)c);
        if (Threads > 1 && batch >= Threads)
            Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = Threads }, i =>
                ManagedGemm.Serial(transA, transB, m, n, k, alpha, (double*)pa + i * strideA, lda, (double*)pb + i * strideB, ldb, beta, (double*)pc + i * strideC, ldc));
        else
            base.DgemmBatchedCore(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);
    }

    internal override void SsyrkCore(Triangle uplo, bool trans, int n, int k, float alpha, float* a, int lda, float beta, float* c, int ldc) =>
        ManagedLapack.Syrk(uplo, trans, n, k, alpha, a, lda, beta, c, ldc, Threads);

    internal override void DsyrkCore(Triangle uplo, bool trans, int n, int k, double alpha, double* a, int lda, double beta, double* c, int ldc) =>
        ManagedLapack.Syrk(uplo, trans, n, k, alpha, a, lda, beta, c, ldc, Threads);

    internal override int SpotrfCore(Triangle uplo, int n, float* a, int lda) => ManagedLapack.Potrf(uplo, n, a, lda, Threads);
    internal override int DpotrfCore(Triangle uplo, int n, double* a, int lda) => ManagedLapack.Potrf(uplo, n, a, lda, Threads);
    internal override int StrtriCore(Triangle uplo, int n, float* a, int lda) => ManagedLapack.Trtri(uplo, n, a, lda, Threads);
    internal override int DtrtriCore(Triangle uplo, int n, double* a, int lda) => ManagedLapack.Trtri(uplo, n, a, lda, Threads);
    internal override int SpotriCore(Triangle uplo, int n, float* a, int lda) => ManagedLapack.Potri(uplo, n, a, lda, Threads);
    internal override int DpotriCore(Triangle uplo, int n, double* a, int lda) => ManagedLapack.Potri(uplo, n, a, lda, Threads);
}
