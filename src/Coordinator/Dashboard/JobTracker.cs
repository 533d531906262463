using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// The job's state as the dashboard shows it, read from the spans the job emits (ActivitySource "Offload": the job
/// span, one span per layer, one per phase of a layer) and from the layers-completed counter: kind, layers total and
/// completed, the layer and phase in flight, elapsed time, an ETA from the finished layers' mean time, the per-layer
/// timeline of phases, and errors (spans ended with an error status, or reported by the command). A new job span
/// starts a new view (a process may run several jobs, e.g. compress then eval). Thread-safe.
/// </summary>
public sealed class JobTracker : IDisposable
{
    private readonly ActivityListener _spans;
    private readonly MeterListener _meters = new();
    private readonly Lock _lock = new();
    private readonly List<Activity> _openLayers = [];
    private readonly List<Activity> _openPhases = [];
    private readonly List<PhaseEntry> _phases = [];
    private readonly List<string> _errors = [];
    private Activity? _job;
    private Activity? _firstLayer;
    private DateTime? _jobEnd;
    private int _completedThisRun;
    private double _completedLayerSeconds;
    private bool _failed;

    public JobTracker()
    {
        _spans = new ActivityListener
        {
            ShouldListenTo = source => source.Name == OffloadTelemetry.Name,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = OnStarted,
            ActivityStopped = OnStopped,
        };
        ActivitySource.AddActivityListener(_spans);
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == OffloadTelemetry.Name && instrument.Name == OffloadTelemetry.LayersCompleted)
                listener.EnableMeasurementEvents(instrument);
        };
        _meters.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            lock (_lock) _completedThisRun += (int)value;
        });
        _meters.Start();
    }

    /// <summary>Records an error the command caught (shown on the page; the job is marked failed).</summary>
    public void ReportError(string message)
    {
        lock (_lock)
        {
            _errors.Add(message);
            _failed = true;
        }
    }

    /// <summary>The job's state now.</summary>
    public JobView View()
    {
        lock (_lock)
        {
            var now = DateTime.UtcNow;
            if (_job is null)
                return new JobView(_failed ? "failed" : "waiting", null, null, 0, null, null, 0, null, [], [.. _errors]);
            var start = _job.StartTimeUtc;
            var total = IntTag(_job, OffloadTelemetry.AttrLayers);
            var first = _firstLayer is null ? 0 : IntTag(_firstLayer, OffloadTelemetry.AttrLayer) ?? 0;
            var completed = first + _completedThisRun;
            var current = _openLayers.Count > 0 ? IntTag(_openLayers[^1], OffloadTelemetry.AttrLayer) : null;
            var phase = _openPhases.Count > 0 ? _openPhases[^1].GetTagItem(OffloadTelemetry.AttrPhase) as string : null;
            var elapsed = ((_jobEnd ?? now) - start).TotalSeconds;
            double? eta = null;
            if (_jobEnd is not null) eta = 0;
            else if (total is { } t && _completedThisRun > 0) eta = _completedLayerSeconds / _completedThisRun * Math.Max(0, t - completed);
            var timeline = new List<PhaseEntry>(_phases.Count + _openPhases.Count);
            timeline.AddRange(_phases);
            foreach (var a in _openPhases) timeline.Add(Entry(a, start, (now - a.StartTimeUtc).TotalSeconds, running: true));
            var status = _failed ? "failed" : _jobEnd is not null ? "finished" : "running";
            return new JobView(status, _job.GetTagItem(OffloadTelemetry.AttrJobKind) as string, total, completed, current, phase, elapsed, eta, timeline, [.. _errors]);
        }
    }

    public void Dispose()
    {
        _spans.Dispose();
        _meters.Dispose();
    }

    private void OnStarted(Activity a)
    {
        lock (_lock)
        {
            switch (a.OperationName)
            {
                case OffloadTelemetry.JobSpan:
                    _job = a;
                    _jobEnd = null;
                    _firstLayer = null;
                    _openLayers.Clear();
                    _openPhases.Clear();
                    _phases.Clear();
                    _completedThisRun = 0;
                    _completedLayerSeconds = 0;
                    break;
                case OffloadTelemetry.LayerSpan:
                    _firstLayer ??= a;
                    _openLayers.Add(a);
                    break;
                case OffloadTelemetry.PhaseSpan:
                    _openPhases.Add(a);
                    break;
            }
        }
    }

    private void OnStopped(Activity a)
    {
        lock (_lock)
        {
            if (a.Status == ActivityStatusCode.Error)
            {
                var where = a.GetTagItem(OffloadTelemetry.AttrLayer) is { } l ? string.Create(CultureInfo.InvariantCulture, $"layer {l}") : a.OperationName;
                var phase = a.GetTagItem(OffloadTelemetry.AttrPhase) is string p ? " " + p : "";
                _errors.Add($"{where}{phase}: {a.StatusDescription ?? "error"}");
            }
            switch (a.OperationName)
            {
                case OffloadTelemetry.JobSpan when ReferenceEquals(a, _job):
                    _jobEnd = a.StartTimeUtc + a.Duration;
                    if (a.Status == ActivityStatusCode.Error) _failed = true;
                    // A job span that ends before its last layer ended by an exception (the span has no error status then).
                    var completed = (_firstLayer is null ? 0 : IntTag(_firstLayer, OffloadTelemetry.AttrLayer) ?? 0) + _completedThisRun;
                    if (!_failed && IntTag(a, OffloadTelemetry.AttrLayers) is { } total && completed < total)
                    {
                        _failed = true;
                        _errors.Add(string.Create(CultureInfo.InvariantCulture, $"the job ended after {completed} of {total} layers"));
                    }
                    break;
                case OffloadTelemetry.LayerSpan:
                    if (_openLayers.Remove(a) && a.Status != ActivityStatusCode.Error) _completedLayerSeconds += a.Duration.TotalSeconds;
                    break;
                case OffloadTelemetry.PhaseSpan:
                    if (_openPhases.Remove(a) && _job is not null)
                        _phases.Add(Entry(a, _job.StartTimeUtc, a.Duration.TotalSeconds, running: false));
                    break;
            }
        }
    }

    private static PhaseEntry Entry(Activity a, DateTime jobStart, double seconds, bool running) =>
        new(a.GetTagItem(OffloadTelemetry.AttrLayer) is { } l ? Convert.ToString(l, CultureInfo.InvariantCulture) ?? "" : "",
            a.GetTagItem(OffloadTelemetry.AttrPhase) as string ?? "",
            (a.StartTimeUtc - jobStart).TotalSeconds, seconds, running, a.Status == ActivityStatusCode.Error);

    private static int? IntTag(Activity a, string name) => a.GetTagItem(name) switch
    {
        int i => i,
        long l => (int)l,
        string s when int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) => v,
        _ => null,
    };
}
