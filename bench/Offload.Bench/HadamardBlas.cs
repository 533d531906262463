using System.Runtime.InteropServices;

namespace Offload.Bench;

/// <summary>
/// OpenBLAS's cblas_sgemm, called directly so the dense baseline of the Hadamard benchmarks is the fastest dense
/// product this machine has (Offload's Gemm API will call the same library once its OpenBLAS backend lands).
/// </summary>
internal static unsafe class HadamardBlas
{
    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    [DllImport("libopenblas.so.0", EntryPoint = "cblas_sgemm")]
    private static extern void Sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    /// <summary>C = A·op(B). a: [m, k], b: [k, n] (or [n, k] when transB), c: [m, n], all f32 row-major.</summary>
    public static void Multiply(float[] a, float[] b, float[] c, int m, int n, int k, bool transB)
    {
        fixed (float* pa = a, pb = b, pc = c)
            Sgemm(RowMajor, NoTrans, transB ? Trans : NoTrans, m, n, k, 1f, pa, k, pb, transB ? k : n, 0f, pc, n);
    }

    /// <summary>True when libopenblas.so.0 can be loaded.</summary>
    public static bool Available
    {
        get
        {
            try
            {
                var a = new float[1] { 1 };
                var c = new float[1];
                Multiply(a, a, c, 1, 1, 1, false);
                return c[0] == 1;
            }
            catch (DllNotFoundException)
            {
                return false;
            }
        }
    }
}
