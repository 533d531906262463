using Xunit;

namespace Offload.Coordinator.Tests.Telemetry;

/// <summary>
/// Tests that read process-wide counters without a device attribute (spilled bytes, disk transfers): they run alone,
/// after the parallel tests, so no other job adds to what they measure.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "telemetry (alone)";
}
