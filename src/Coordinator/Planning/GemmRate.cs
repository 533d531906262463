using System.Diagnostics;
using Offload.Model.Config;
using Offload.Tensors.Kernels;

namespace Offload.Coordinator.Planning;

/// <summary>
/// The f32 GEMM rate the time estimate uses, measured with the BLAS in use at the shape a layer's forward runs: a
/// batch's tokens × hidden times the MLP's [intermediate, hidden] weight (transposed, as Ops.Linear calls it).
/// </summary>
public static class GemmRate
{
    /// <summary>GFLOP/s of [m, k]·[n, k]ᵀ products repeated for about <paramref name="seconds"/> (after one warm-up).</summary>
    public static double Measure(int m, int n, int k, double seconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(m, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var rng = new Random(7);
        var a = new float[(long)m * k];
        var b = new float[(long)n * k];
        var c = new float[(long)m * n];
        for (var i = 0; i < a.Length; i++) a[i] = (float)(rng.NextDouble() - 0.5);
        for (var i = 0; i < b.Length; i++) b[i] = (float)(rng.NextDouble() - 0.5);
        var blas = Blas.Current;
        blas.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
        var runs = 0;
        var watch = Stopwatch.StartNew();
        do
        {
            blas.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n);
            runs++;
        }
        while (watch.Elapsed.TotalSeconds < seconds || runs < 2);
        return 2.0 * m * n * (double)k * runs / watch.Elapsed.TotalSeconds / 1e9;
    }

    /// <summary>The rate at a layer's MLP shape for batches of <paramref name="rows"/> × <paramref name="seqLen"/> tokens.</summary>
    public static double ForLayer(LlamaConfig config, int rows, int seqLen, double seconds = 0.5) =>
        Measure(checked(rows * seqLen), config.IntermediateSize, config.HiddenSize, seconds);
}
