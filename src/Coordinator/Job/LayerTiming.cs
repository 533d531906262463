namespace Offload.Coordinator.Job;

/// <summary>
/// One layer's step: its wall time, the compute time summed over its batches, and the time its batches waited for
/// the layer's parameters (the transfer time that prefetch did not hide), summed over devices.
/// </summary>
public sealed record LayerTiming(string Shard, TimeSpan Wall, TimeSpan Compute, TimeSpan OnloadWait)
{
    /// <summary>Share of the wall time spent waiting for parameters (with one device: exposed transfer / wall).</summary>
    public double ExposedTransferShare(int devices) => Wall <= TimeSpan.Zero ? 0 : OnloadWait.TotalSeconds / devices / Wall.TotalSeconds;
}
