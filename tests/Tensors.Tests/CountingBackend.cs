using Offload.Tensors.Kernels;

namespace Offload.Tensors.Tests;

/// <summary>A backend that forwards to another and records each GEMM call and its operand addresses.</summary>
internal sealed unsafe class CountingBackend(BlasBackend inner) : BlasBackend
{
    public int GemmCalls;
    public nint LastA, LastB, LastC;
    public float LastBeta;

    public override string Name => "counting";
    public override string Description => "test double";
    public override int Threads => 1;
    public override bool IsNative => false;

    internal override void SgemmCore(bool transA, bool transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        GemmCalls++;
        (LastA, LastB, LastC, LastBeta) = ((nint)a, (nint)b, (nint)c, beta);
        inner.SgemmCore(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    internal override void DgemmCore(bool transA, bool transB, int m, int n, int k, double alpha, double* a, int lda, double* b, int ldb, double beta, double* c, int ldc)
    {
        GemmCalls++;
        inner.DgemmCore(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    internal override void SsyrkCore(Triangle uplo, bool trans, int n, int k, float alpha, float* a, int lda, float beta, float* c, int ldc) => inner.SsyrkCore(uplo, trans, n, k, alpha, a, lda, beta, c, ldc);
    internal override void DsyrkCore(Triangle uplo, bool trans, int n, int k, double alpha, double* a, int lda, double beta, double* c, int ldc) => inner.DsyrkCore(uplo, trans, n, k, alpha, a, lda, beta, c, ldc);
    internal override int SpotrfCore(Triangle uplo, int n, float* a, int lda) => inner.SpotrfCore(uplo, n, a, lda);
    internal override int DpotrfCore(Triangle uplo, int n, double* a, int lda) => inner.DpotrfCore(uplo, n, a, lda);
    internal override int StrtriCore(Triangle uplo, int n, float* a, int lda) => inner.StrtriCore(uplo, n, a, lda);
    internal override int DtrtriCore(Triangle uplo, int n, double* a, int lda) => inner.DtrtriCore(uplo, n, a, lda);
    internal override int SpotriCore(Triangle uplo, int n, float* a, int lda) => inner.SpotriCore(uplo, n, a, lda);
    internal override int DpotriCore(Triangle uplo, int n, double* a, int lda) => inner.DpotriCore(uplo, n, a, lda);
}
