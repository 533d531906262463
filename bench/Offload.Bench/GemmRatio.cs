using System.Diagnostics;
using System.Runtime.InteropServices;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Kernels;

namespace Offload.Bench;

/// <summary>
/// Interleaved GEMM comparison, robust on a busy or small machine: for each N it alternates one raw
/// <c>cblas_sgemm</c> call and one call of our Tensor path (<see cref="Ops.MatMul"/>, output allocated per call) on the
/// same inputs, R times, and reports the median GFLOP/s of each and their ratio, plus the managed fallback's median.
/// Alternating call by call exposes both paths to the same load, which BenchmarkDotNet's separate runs do not.
/// Run: <c>dotnet run -c Release --project bench/Offload.Bench -- gemm-ratio [reps]</c>.
/// </summary>
public static unsafe class GemmRatio
{
    public static void Run(int reps)
    {
        Console.WriteLine($"BLAS: {Blas.Current}; {reps} interleaved repetitions per size; medians");
        Console.WriteLine("     N    raw cblas_sgemm    Ops.MatMul    ours/raw    managed fallback");
        foreach (var n in new[] { 512, 2048, 4096 })
        {
            var r = n >= 4096 ? Math.Max(3, reps / 4) : n >= 2048 ? Math.Max(5, reps / 2) : reps * 4;
            using var a = Random(n, 1);
            using var b = Random(n, 2);
            using var c = Tensor.Empty(DType.F32, n, n);
            var raw = new double[r];
            var ours = new double[r];
            var flops = 2.0 * n * n * n;
            Raw(a, b, c, n); // warm up both paths once
            Ops.MatMul(a, b).Dispose();
            for (var i = 0; i < r; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                Raw(a, b, c, n);
                var t1 = Stopwatch.GetTimestamp();
                using (Ops.MatMul(a, b)) { }
                var t2 = Stopwatch.GetTimestamp();
                raw[i] = flops / Stopwatch.GetElapsedTime(t0, t1).TotalSeconds / 1e9;
                ours[i] = flops / Stopwatch.GetElapsedTime(t1, t2).TotalSeconds / 1e9;
            }
            var managedReps = n >= 4096 ? 2 : 5;
            var managed = new double[managedReps];
            for (var i = 0; i < managedReps; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                Blas.Managed.Sgemm(false, false, n, n, n, 1f, a.ReadOnlySpan<float>(), n, b.ReadOnlySpan<float>(), n, 0f, c.Span<float>(), n);
                managed[i] = flops / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9;
            }
            var mr = Median(raw);
            var mo = Median(ours);
            Console.WriteLine($"{n,6} {mr,12:F1} GFLOP/s {mo,9:F1} GFLOP/s {mo / mr,9:P0} {Median(managed),12:F1} GFLOP/s");
        }
    }

    private static void Raw(Tensor a, Tensor b, Tensor c, int n) =>
        cblas_sgemm(101, 111, 111, n, n, n, 1f, (float*)a.Pointer, n, (float*)b.Pointer, n, 0f, (float*)c.Pointer, n);

    private static Tensor Random(int n, int seed)
    {
        var rng = new Random(seed);
        var t = Tensor.Empty(DType.F32, n, n);
        var s = t.Span<float>();
        for (var i = 0; i < s.Length; i++) s[i] = (float)(rng.NextDouble() - 0.5);
        return t;
    }

    private static double Median(double[] values)
    {
        var v = (double[])values.Clone();
        Array.Sort(v);
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    [DllImport("libopenblas.so.0", EntryPoint = "cblas_sgemm")]
    private static extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);
}
