namespace Offload.Coordinator.Telemetry;

/// <summary>
/// One finished span of the ActivitySource "Offload", as kept by <see cref="SpanCollector"/>.
/// </summary>
/// <param name="Name">Span name, e.g. <c>offload.phase</c>.</param>
/// <param name="TraceId">W3C trace id, 32 lowercase hex digits.</param>
/// <param name="SpanId">W3C span id, 16 lowercase hex digits.</param>
/// <param name="ParentSpanId">The parent's span id, or null for a root span.</param>
/// <param name="Start">Start time (UTC).</param>
/// <param name="Duration">Duration.</param>
/// <param name="Status">unset, ok or error.</param>
/// <param name="StatusDescription">The error description, or null.</param>
/// <param name="Tags">The span's tags (values formatted with the invariant culture).</param>
public sealed record SpanRecord(
    string Name,
    string TraceId,
    string SpanId,
    string? ParentSpanId,
    DateTimeOffset Start,
    TimeSpan Duration,
    string Status,
    string? StatusDescription,
    IReadOnlyDictionary<string, string> Tags);
