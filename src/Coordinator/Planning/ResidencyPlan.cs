using Offload.Model.Config;

namespace Offload.Coordinator.Planning;

/// <summary>
/// The prediction of <see cref="ResidencyPlanner.Plan"/>: per part and per device residency, the host activation peak and
/// spill, and the compute of one forward pass over every sample.
/// </summary>
public sealed record ResidencyPlan(
    LlamaConfig Config,
    int Batches,
    long WorkspaceBytes,
    long ModelBytes,
    IReadOnlyList<PartResidency> Parts,
    IReadOnlyList<DeviceResidency> Devices,
    long HostActivationPeakBytes,
    long SpilledBytes)
{
    /// <summary>FLOPs of one forward pass of every sample through every part.</summary>
    public double ForwardFlops => Parts.Sum(p => p.ForwardFlops);

    /// <summary>
    /// Estimated wall time at <paramref name="gflops"/> (the host's measured f32 GEMM rate; the CPU devices share it):
    /// per part its compute (× <paramref name="passes"/>) and, with a bandwidth, its onload time — overlapped when
    /// prefetching, added when not.
    /// </summary>
    public TimeSpan EstimateTime(double gflops, double? bandwidthBytesPerSecond, int prefetchDepth, int passes = 1)
    {
        if (!(gflops > 0)) throw new ArgumentOutOfRangeException(nameof(gflops), "the GEMM rate must be positive");
        var seconds = 0.0;
        foreach (var p in Parts)
        {
            var compute = passes * p.ForwardFlops / (gflops * 1e9);
            var transfer = bandwidthBytesPerSecond is { } bw ? p.OnloadedBytes / bw : 0;
            seconds += prefetchDepth > 0 ? Math.Max(compute, transfer) : compute + transfer;
        }
        return TimeSpan.FromSeconds(seconds);
    }
}
