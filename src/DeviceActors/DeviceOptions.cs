using Offload.Protocol;

namespace Offload.DeviceActors;

/// <summary>
/// One device as the runtime sees it: its id, its memory budget in bytes and, for CPU virtual devices, an optional
/// simulated host↔device bandwidth (bytes/s) so that transfers cost time in tests and benchmarks.
/// </summary>
public sealed record DeviceOptions(DeviceId Device, long BudgetBytes)
{
    /// <summary>Simulated transfer bandwidth in bytes per second; null = only the real copy time.</summary>
    public double? BandwidthBytesPerSecond { get; init; }

    /// <summary>How simulated transfer time is waited for; null = <see cref="RealTransferDelay"/>.</summary>
    public ITransferDelay? Delay { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> when the budget or bandwidth is not positive.</summary>
    public void Validate()
    {
        if (BudgetBytes <= 0) throw new ArgumentException($"{Device}: device memory budget must be positive, got {BudgetBytes} bytes");
        if (BandwidthBytesPerSecond is { } b && !(b > 0)) throw new ArgumentException($"{Device}: bandwidth must be positive, got {b}");
    }
}
