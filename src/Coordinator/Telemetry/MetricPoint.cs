namespace Offload.Coordinator.Telemetry;

/// <summary>
/// The current value of one instrument for one attribute set, as kept by <see cref="MetricsCollector"/>.
/// <list type="bullet">
/// <item><c>counter</c>, <c>observable_counter</c>: <see cref="Value"/> = the running total (for the observable one,
/// the last total it reported); <see cref="Sum"/> = <see cref="Value"/>; <see cref="Count"/> = measurements seen.</item>
/// <item><c>updowncounter</c>: <see cref="Value"/> = the running sum of the deltas; <c>observable_updowncounter</c>,
/// <c>gauge</c>, <c>observable_gauge</c>: <see cref="Value"/> = the last value reported; <see cref="Sum"/> =
/// <see cref="Value"/>.</item>
/// <item><c>histogram</c>: <see cref="Value"/> = the last recorded value, <see cref="Count"/>, <see cref="Sum"/>,
/// <see cref="Min"/>, <see cref="Max"/> over every recording.</item>
/// </list>
/// <see cref="Min"/> and <see cref="Max"/> are the extremes of every measurement for all kinds.
/// </summary>
/// <param name="Name">Instrument name, e.g. <c>offload.device.memory.usage</c>.</param>
/// <param name="Unit">UCUM unit (<c>By</c>, <c>s</c>, <c>{layer}</c>, …); empty when the instrument has none.</param>
/// <param name="Kind">One of counter, updowncounter, histogram, gauge, observable_counter, observable_updowncounter, observable_gauge.</param>
/// <param name="Attributes">The attribute set (values formatted with the invariant culture), sorted by key.</param>
public sealed record MetricPoint(string Name, string Unit, string Kind, IReadOnlyDictionary<string, string> Attributes, double Value, long Count, double Sum)
{
    /// <summary>The smallest measurement seen.</summary>
    public double Min { get; init; }

    /// <summary>The largest measurement seen.</summary>
    public double Max { get; init; }

    /// <summary>The meter the instrument belongs to ("Offload" or "System.Runtime").</summary>
    public string Meter { get; init; } = "";
}
