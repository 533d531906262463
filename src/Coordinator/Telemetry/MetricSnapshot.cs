namespace Offload.Coordinator.Telemetry;

/// <summary>
/// Every instrument's current value at one moment (<see cref="MetricsCollector.Collect"/>). <see cref="Sequence"/>
/// starts at 1 and grows by one per snapshot of the same collector. Points are ordered by name, then attributes.
/// </summary>
public sealed record MetricSnapshot(long Sequence, DateTimeOffset Time, IReadOnlyList<MetricPoint> Points);
