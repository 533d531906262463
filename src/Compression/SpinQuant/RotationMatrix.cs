using Offload.Transforms.Config;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// One SpinQuant rotation's block matrix, normalised (A = M/√n for the Hadamard types, R for random-matrix), with the
/// two forms fusion needs: <see cref="Forward"/> A (weight_output: W ← Bᵀ·W; online: x ← x·B) and
/// <see cref="InverseTransposed"/> A⁻ᵀ (weight_input inverse: W ← W·(B⁻¹)ᵀ = W·blockdiag(A⁻ᵀ)); both [n, n] f64 row-major.
/// </summary>
public sealed record RotationMatrix(string Name, TransformType Type, int Size, double[] Forward, double[] InverseTransposed, long Seed)
{
    /// <summary>The matrix as compressed-tensors stores an online transform's weight: unnormalised (±1 for the Hadamard types), [n, n] row-major.</summary>
    public double[] Stored { get; init; } = [];
}
