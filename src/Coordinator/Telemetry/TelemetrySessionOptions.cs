namespace Offload.Coordinator.Telemetry;

/// <summary>What a <see cref="TelemetrySession"/> does besides OTLP export (which the environment decides).</summary>
public sealed record TelemetrySessionOptions
{
    /// <summary>JSON-lines file for metric snapshots and finished spans (see <see cref="TelemetrySession"/>); null = none.</summary>
    public string? MetricsOut { get; init; }

    /// <summary>Time between two snapshots written to <see cref="MetricsOut"/>.</summary>
    public TimeSpan MetricsInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Keep the in-process collectors (<see cref="TelemetrySession.Metrics"/>, <see cref="TelemetrySession.Spans"/>)
    /// even without <see cref="MetricsOut"/> (the dashboard reads them).
    /// </summary>
    public bool InProcess { get; init; }

    /// <summary>service.name of the exported resource unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) says otherwise.</summary>
    public string ServiceName { get; init; } = "offload";

    /// <summary>Reads an environment variable (tests replace it).</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;
}
