using Offload.Protocol;

namespace Offload.Transforms.Hadamard;

/// <summary>A transform size has no Hadamard matrix here; the message names the block sizes that would work.</summary>
public sealed class HadamardSizeException : OffloadException
{
    public HadamardSizeException(long size, string message) : base(message)
    {
        Size = size;
    }

    /// <summary>The size that was asked for.</summary>
    public long Size { get; }
}
