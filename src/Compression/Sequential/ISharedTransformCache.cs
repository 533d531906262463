using Offload.Tensors;

namespace Offload.Compression.Sequential;

/// <summary>
/// Shared transform weights (e.g. one Hadamard matrix used by every down_proj) of one device: one tensor per
/// <see cref="TransformCacheKey"/>, reference counted, freed when its last user releases it.
/// </summary>
public interface ISharedTransformCache
{
    /// <summary>
    /// The tensor for <paramref name="key"/>, created with <paramref name="create"/> on first use; every call takes one
    /// reference, given back with <see cref="Release"/>. The returned tensor is shared: never write to it or dispose it.
    /// </summary>
    Tensor Acquire(TransformCacheKey key, Func<Tensor> create);

    /// <summary>Gives back one reference; the last one frees the tensor.</summary>
    void Release(TransformCacheKey key);

    /// <summary>Bytes held by the cache now.</summary>
    long ResidentBytes { get; }
}
