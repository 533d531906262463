using System.Globalization;
using System.Text;
using System.Text.Json;
using Offload.Coordinator.Telemetry;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// Turns one <see cref="MetricSnapshot"/> plus the job's state (<see cref="JobTracker"/>) into the JSON frame the page
/// renders. Every frame carries the snapshot's <c>sequence</c>, so a frame matches the <c>--metrics-out</c> line of the
/// same snapshot: device memory, transfer totals, cache and spill values are the snapshot's values unchanged.
/// <code>
/// {"sequence":12,"time":"…Z",
///  "job":{"status":"running","kind":"eval","layersTotal":16,"layersCompleted":5,"currentLayer":5,"currentPhase":"calibrate",
///         "elapsedSeconds":3.2,"etaSeconds":6.1,"errors":[],
///         "timeline":[{"layer":"0","phase":"calibrate","start":0.12,"duration":0.4,"running":false,"error":false}]},
///  "devices":[{"id":"cpu:0","usedBytes":1048576,"limitBytes":2097152}],
///  "transfers":[{"direction":"h2d","device":"cpu:0","bytes":4096,"bytesPerSecond":2048}],
///  "cache":{"hits":3,"misses":1,"bytes":65536},"spilledBytes":0}
/// </code>
/// <c>bytesPerSecond</c> is the change of the transfer total since the previous frame over the time between them (null
/// on the first frame). Not thread-safe: frames are built in snapshot order by the collector's event.
/// </summary>
public sealed class DashboardFeed(JobTracker tracker)
{
    // Transfer totals and time of the frame before the latest one and of the latest one: a snapshot framed again (the
    // final end event repeats the last snapshot) measures its bandwidth against the same earlier frame.
    private Dictionary<(string Direction, string Device), double> _beforeTransfers = [], _lastTransfers = [];
    private DateTimeOffset? _beforeTime, _lastTime;
    private long _lastSequence = -1;

    /// <summary>The JSON frame of <paramref name="snapshot"/> (one line, UTF-8).</summary>
    public string Frame(MetricSnapshot snapshot)
    {
        var devices = new SortedDictionary<string, (double? Used, double? Limit)>(StringComparer.Ordinal);
        var transfers = new SortedDictionary<(string Direction, string Device), double>();
        double hits = 0, misses = 0, cacheBytes = 0, spilled = 0;
        foreach (var p in snapshot.Points)
        {
            if (p.Meter.Length > 0 && p.Meter != OffloadTelemetry.Name) continue;
            var device = p.Attributes.TryGetValue(OffloadTelemetry.AttrDevice, out var d) ? d : "";
            switch (p.Name)
            {
                case OffloadTelemetry.DeviceMemoryUsage:
                    devices[device] = (p.Value, devices.GetValueOrDefault(device).Limit);
                    break;
                case OffloadTelemetry.DeviceMemoryLimit:
                    devices[device] = (devices.GetValueOrDefault(device).Used, p.Value);
                    break;
                case OffloadTelemetry.TransferSize:
                    var direction = p.Attributes.TryGetValue(OffloadTelemetry.AttrDirection, out var dir) ? dir : "";
                    transfers[(direction, device)] = transfers.GetValueOrDefault((direction, device)) + p.Value;
                    break;
                case OffloadTelemetry.TransformCacheHits: hits += p.Value; break;
                case OffloadTelemetry.TransformCacheMisses: misses += p.Value; break;
                case OffloadTelemetry.TransformCacheSize: cacheBytes += p.Value; break;
                case OffloadTelemetry.ActivationSpilled: spilled += p.Value; break;
            }
        }
        var job = tracker.View();
        if (snapshot.Sequence != _lastSequence)
        {
            _beforeTransfers = _lastTransfers;
            _beforeTime = _lastTime;
        }
        var seconds = _beforeTime is { } t ? (snapshot.Time - t).TotalSeconds : 0;

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("sequence", snapshot.Sequence);
            w.WriteString("time", snapshot.Time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            WriteJob(w, job);
            w.WriteStartArray("devices");
            foreach (var (id, (used, limit)) in devices)
            {
                w.WriteStartObject();
                w.WriteString("id", id);
                Number(w, "usedBytes", used);
                Number(w, "limitBytes", limit);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("transfers");
            foreach (var ((direction, device), bytes) in transfers)
            {
                w.WriteStartObject();
                w.WriteString("direction", direction);
                w.WriteString("device", device);
                w.WriteNumber("bytes", bytes);
                Number(w, "bytesPerSecond", seconds > 0 ? Math.Max(0, bytes - _beforeTransfers.GetValueOrDefault((direction, device))) / seconds : null);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("cache");
            w.WriteNumber("hits", hits);
            w.WriteNumber("misses", misses);
            w.WriteNumber("bytes", cacheBytes);
            w.WriteEndObject();
            w.WriteNumber("spilledBytes", spilled);
            w.WriteEndObject();
        }
        _lastTransfers = new Dictionary<(string, string), double>(transfers);
        _lastTime = snapshot.Time;
        _lastSequence = snapshot.Sequence;
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteJob(Utf8JsonWriter w, JobView job)
    {
        w.WriteStartObject("job");
        w.WriteString("status", job.Status);
        if (job.Kind is null) w.WriteNull("kind"); else w.WriteString("kind", job.Kind);
        Number(w, "layersTotal", job.LayersTotal);
        w.WriteNumber("layersCompleted", job.LayersCompleted);
        Number(w, "currentLayer", job.CurrentLayer);
        if (job.CurrentPhase is null) w.WriteNull("currentPhase"); else w.WriteString("currentPhase", job.CurrentPhase);
        w.WriteNumber("elapsedSeconds", Math.Round(job.ElapsedSeconds, 3));
        Number(w, "etaSeconds", job.EtaSeconds is { } e ? Math.Round(e, 3) : null);
        w.WriteStartArray("errors");
        foreach (var error in job.Errors) w.WriteStringValue(error);
        w.WriteEndArray();
        w.WriteStartArray("timeline");
        foreach (var p in job.Timeline)
        {
            w.WriteStartObject();
            w.WriteString("layer", p.Layer);
            w.WriteString("phase", p.Phase);
            w.WriteNumber("start", Math.Round(p.StartSeconds, 4));
            w.WriteNumber("duration", Math.Round(p.DurationSeconds, 4));
            w.WriteBoolean("running", p.Running);
            w.WriteBoolean("error", p.Error);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }
}
