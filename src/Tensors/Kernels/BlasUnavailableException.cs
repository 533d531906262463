using Offload.Protocol;

namespace Offload.Tensors.Kernels;

/// <summary>The BLAS backend asked for (OFFLOAD_BLAS) is unknown or cannot be loaded.</summary>
public sealed class BlasUnavailableException : OffloadException
{
    public BlasUnavailableException(string message) : base(message) { }
}
