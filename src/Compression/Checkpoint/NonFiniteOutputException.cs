using Offload.Protocol;

namespace Offload.Compression.Checkpoint;

/// <summary>
/// A tensor about to be written into a compressed checkpoint (weight, scale, zero point, global scale) holds NaN or
/// ±Inf: nothing is written. A failure of the run, not of its input (the compress job reports it with exit code 1).
/// </summary>
public sealed class NonFiniteOutputException(string tensor, long count)
    : OffloadException($"{tensor}: {count} non-finite value{(count == 1 ? "" : "s")} (NaN/Inf) computed for the output; nothing was written — quantize that module with a larger dampening_frac or ignore it, then run again")
{
    /// <summary>The tensor's name in the checkpoint.</summary>
    public string Tensor { get; } = tensor;
}
