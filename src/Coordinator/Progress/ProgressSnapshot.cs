namespace Offload.Coordinator.Progress;

/// <summary>
/// A consistent view of a followed job: its kind and size (from the offload.job span's tags), the layers completed in
/// this run, the layer and phase in flight, and per phase the layers that completed it and the seconds spent.
/// </summary>
public sealed record ProgressSnapshot(
    string Kind,
    int TotalLayers,
    int Batches,
    string Devices,
    int? FirstLayer,
    int LayersDone,
    int? CurrentLayer,
    string? CurrentPhase,
    TimeSpan Elapsed,
    IReadOnlyList<(string Phase, int Layers, TimeSpan Time)> Phases,
    bool Finished)
{
    /// <summary>Layers this run still has to do (a resumed run starts at <see cref="FirstLayer"/>).</summary>
    public int Remaining => Math.Max(0, TotalLayers - (FirstLayer ?? 0) - LayersDone);

    /// <summary>Completed layers per second of this run so far (0 before the first one).</summary>
    public double LayersPerSecond => LayersDone == 0 || Elapsed <= TimeSpan.Zero ? 0 : LayersDone / Elapsed.TotalSeconds;

    /// <summary>Estimated time to the last layer at the rate so far; null before the first layer completes.</summary>
    public TimeSpan? Eta => LayersDone == 0 ? null : TimeSpan.FromSeconds(Remaining / LayersPerSecond);
}
