namespace Offload.Transforms.Config;

/// <summary>The transform family of a scheme (wire names in <see cref="TransformTypes"/>).</summary>
public enum TransformType
{
    /// <summary>"hadamard": deterministic; Sylvester for powers of two (as compressed-tensors), K ⊗ S for other supported sizes (an Offload extension).</summary>
    Hadamard,

    /// <summary>"random-hadamard": D·(Kᵀ ⊗ S) with signs from the factory's MT19937 stream, bit-identical to compressed-tensors.</summary>
    RandomHadamard,

    /// <summary>"random-matrix": entries uniform in [0, 1), inverted in f64 (compressed-tensors' definition).</summary>
    RandomMatrix,

    /// <summary>"random-orthogonal": Offload extension, a Haar-random orthogonal matrix (QR of a Gaussian); not loadable by compressed-tensors.</summary>
    RandomOrthogonal,
}
