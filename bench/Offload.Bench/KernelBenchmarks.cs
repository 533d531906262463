using BenchmarkDotNet.Attributes;
using Offload.Tensors;
using Offload.Tensors.Kernels;

namespace Offload.Bench;

/// <summary>
/// Row kernels on a [64, 4096] f32 block (one Llama-7B-width batch) and the bf16 span conversions, vectorized vs the
/// scalar per-element conversion they replaced. Run: <c>dotnet run -c Release --project bench/Offload.Bench -- --filter '*KernelBenchmarks*'</c>.
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private const int Rows = 64, Cols = 4096;
    private readonly float[] _x = new float[Rows * Cols];
    private readonly float[] _up = new float[Rows * Cols];
    private readonly float[] _w = new float[Cols];
    private readonly float[] _y = new float[Rows * Cols];
    private readonly ushort[] _bf16 = new ushort[Rows * Cols];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        for (var i = 0; i < _x.Length; i++)
        {
            _x[i] = (float)(rng.NextDouble() * 8 - 4);
            _up[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        for (var i = 0; i < Cols; i++) _w[i] = (float)rng.NextDouble();
        TensorConvert.F32ToBF16(_x, _bf16);
    }

    [Benchmark] public void RmsNorm() => Normalization.RmsNorm(_x, _w, 1e-5f, _y, Cols);
    [Benchmark] public void Softmax() => Activations.Softmax(_x, _y, Cols);
    [Benchmark] public void SwiGlu() => Activations.SwiGlu(_x, _up, _y);
    [Benchmark] public void F32ToBF16Span() => TensorConvert.F32ToBF16(_x, _bf16);

    [Benchmark]
    public void F32ToBF16Scalar()
    {
        for (var i = 0; i < _x.Length; i++) _bf16[i] = DTypeConvert.F32ToBF16(_x[i]);
    }

    [Benchmark] public void BF16ToF32Span() => TensorConvert.BF16ToF32(_bf16, _y);

    [Benchmark]
    public void BF16ToF32Scalar()
    {
        for (var i = 0; i < _bf16.Length; i++) _y[i] = DTypeConvert.BF16ToF32(_bf16[i]);
    }
}
