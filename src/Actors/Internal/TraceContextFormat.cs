using System.Diagnostics;

namespace Offload.Actors.Internal;

/// <summary>W3C traceparent text of an <see cref="ActivityContext"/>.</summary>
internal static class TraceContextFormat
{
    public static string? ToTraceParent(ActivityContext context) =>
        context == default
            ? null
            : $"00-{context.TraceId.ToHexString()}-{context.SpanId.ToHexString()}-{((context.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? "01" : "00")}";
}
