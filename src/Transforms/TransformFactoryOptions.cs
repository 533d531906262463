using Offload.Transforms.Hadamard;
using Offload.Transforms.Random;

namespace Offload.Transforms;

/// <summary>Knobs of a <see cref="TransformFactory"/>; the defaults reproduce compressed-tensors.</summary>
public sealed record TransformFactoryOptions
{
    /// <summary>Generator seed (only the low 32 bits reach MT19937); torch's default seed unless set.</summary>
    public ulong Seed { get; init; } = Mt19937.TorchDefaultSeed;

    /// <summary>
    /// Base matrices for random-hadamard, by order; null uses this project's constructions
    /// (<see cref="HadamardBases.Get"/>). Tests pass compressed-tensors' reference bases here.
    /// </summary>
    public Func<int, SignMatrix>? BaseMatrices { get; init; }

    /// <summary>A name for <see cref="BaseMatrices"/> (it becomes part of the cache key, so different bases never share).</summary>
    public string BaseMatricesName { get; init; } = "";

    /// <summary>Fast path or dense GEMM for the Hadamard types.</summary>
    public TransformApplyPolicy Policy { get; init; } = TransformApplyPolicy.Auto;

    /// <summary>
    /// Under <see cref="TransformApplyPolicy.Auto"/>, sizes that are not powers of two and are at most this use dense
    /// GEMM with the cached matrix. Measured with bench/Offload.Bench HadamardCrossoverBenchmarks (16384 rows, f32,
    /// OpenBLAS, 2 busy cores): dense is ~3× faster at 12 and 24, even at 48, and 1.6× / 2.9× slower at 96 / 192; the
    /// FWHT wins at every power of two from 8 up.
    /// </summary>
    public int DenseMaxSize { get; init; } = 48;

    /// <summary>The defaults.</summary>
    public static TransformFactoryOptions Default { get; } = new();
}
