using System.Buffers;
using System.Text.Json;

namespace Offload.Coordinator.Telemetry;

/// <summary>
/// The writer of the <c>--metrics-out</c> file (format: see <see cref="TelemetrySession"/>). Each line is built whole
/// in memory, then written and flushed under a lock, so a reader tailing the file never sees half a line.
/// </summary>
internal sealed class MetricsJsonLines : IDisposable
{
    private static readonly JsonWriterOptions Compact = new() { Indented = false };
    private readonly FileStream _stream;
    private readonly Lock _lock = new();
    private bool _closed;

    public MetricsJsonLines(string path)
    {
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
    }

    public void WriteSnapshot(MetricSnapshot snapshot, bool final)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, Compact))
        {
            w.WriteStartObject();
            w.WriteString("type", "metrics");
            w.WriteNumber("seq", snapshot.Sequence);
            w.WriteString("time", snapshot.Time.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteBoolean("final", final);
            w.WriteStartArray("points");
            foreach (var p in snapshot.Points)
            {
                w.WriteStartObject();
                w.WriteString("name", p.Name);
                w.WriteString("unit", p.Unit);
                w.WriteString("kind", p.Kind);
                w.WriteString("meter", p.Meter);
                w.WriteStartObject("attributes");
                foreach (var (k, v) in p.Attributes) w.WriteString(k, v);
                w.WriteEndObject();
                Number(w, "value", p.Value);
                w.WriteNumber("count", p.Count);
                Number(w, "sum", p.Sum);
                Number(w, "min", p.Min);
                Number(w, "max", p.Max);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        Append(buffer);
    }

    public void WriteSpan(SpanRecord span)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, Compact))
        {
            w.WriteStartObject();
            w.WriteString("type", "span");
            w.WriteString("name", span.Name);
            w.WriteString("trace_id", span.TraceId);
            w.WriteString("span_id", span.SpanId);
            if (span.ParentSpanId is null) w.WriteNull("parent_span_id");
            else w.WriteString("parent_span_id", span.ParentSpanId);
            w.WriteString("start", span.Start.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            Number(w, "duration_s", span.Duration.TotalSeconds);
            w.WriteString("status", span.Status);
            if (span.StatusDescription is null) w.WriteNull("status_description");
            else w.WriteString("status_description", span.StatusDescription);
            w.WriteStartObject("attributes");
            foreach (var (k, v) in span.Tags) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        Append(buffer);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
            _stream.Dispose();
        }
    }

    private void Append(ArrayBufferWriter<byte> line)
    {
        lock (_lock)
        {
            if (_closed) return;
            _stream.Write(line.WrittenSpan);
            _stream.WriteByte((byte)'\n');
            _stream.Flush();
        }
    }

    private static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }
}
