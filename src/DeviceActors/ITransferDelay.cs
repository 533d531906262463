namespace Offload.DeviceActors;

/// <summary>Waits out the simulated part of a transfer (injectable so tests can count instead of wait).</summary>
public interface ITransferDelay
{
    /// <summary>Completes once <paramref name="duration"/> has passed (or at once for a non-positive one).</summary>
    Task WaitAsync(TimeSpan duration, CancellationToken cancellationToken = default);
}
