using System.Diagnostics;

namespace Offload.DeviceActors;

/// <summary>
/// Wall-clock delay: a timer for all but the last millisecond, then yields until the deadline, so simulated transfers
/// are accurate to well under a millisecond (timer waits alone overshoot by about one).
/// </summary>
public sealed class RealTransferDelay : ITransferDelay
{
    public static readonly RealTransferDelay Instance = new();

    public async Task WaitAsync(TimeSpan duration, CancellationToken cancellationToken = default)
    {
        if (duration <= TimeSpan.Zero) return;
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var coarse = duration - TimeSpan.FromMilliseconds(1.5);
        if (coarse > TimeSpan.Zero) await Task.Delay(coarse, cancellationToken).ConfigureAwait(false);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
        }
    }
}
