namespace Offload.Coordinator.Dashboard;

/// <summary>
/// The job as the dashboard shows it (<see cref="JobTracker.View"/>). Status: waiting (no job span yet), running,
/// finished, failed. Times in seconds; <paramref name="Timeline"/> offsets are from the job span's start.
/// </summary>
public sealed record JobView(
    string Status,
    string? Kind,
    int? LayersTotal,
    int LayersCompleted,
    int? CurrentLayer,
    string? CurrentPhase,
    double ElapsedSeconds,
    double? EtaSeconds,
    IReadOnlyList<PhaseEntry> Timeline,
    IReadOnlyList<string> Errors);
