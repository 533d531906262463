namespace Offload.Transforms;

/// <summary>How Hadamard-type transforms are multiplied.</summary>
public enum TransformApplyPolicy
{
    /// <summary>The fast path (FWHT, k×k mix), except dense GEMM at sizes where that measured faster.</summary>
    Auto,

    /// <summary>Always the fast path.</summary>
    Fast,

    /// <summary>Always dense GEMM with the cached matrix (compressed-tensors' way; for comparison).</summary>
    Dense,
}
