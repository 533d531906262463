namespace Offload.Coordinator.Planning;

/// <summary>
/// One onloaded part of the model (a decoder layer or the head) in a <see cref="ResidencyPlan"/>: its parameter bytes
/// (what a device holds for it), the most a device holds while the part computes (workspace, the part, prefetched and
/// still cached parts), the bytes onloaded in its step, the activation bytes kept in host memory and spilled at the end
/// of its step, and its forward FLOPs over all samples.
/// </summary>
public sealed record PartResidency(
    string Name,
    long ParameterBytes,
    long DevicePeakBytes,
    long OnloadedBytes,
    long HostActivationBytes,
    long SpilledBytes,
    double ForwardFlops);
