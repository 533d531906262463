using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Progress;

/// <summary>
/// Follows the layer-wise job that the creating flow runs next and shows it (bars, plain lines or nothing). It listens
/// to the spans the job emits on ActivitySource "Offload" — offload.job (tags offload.job.kind, offload.layers,
/// offload.batches, offload.devices), offload.layer (offload.layer) and offload.phase (calibration.phase) — so the job
/// code makes no progress calls. A layer counts as completed when the job records offload.calibration.layers.completed
/// inside its span; a layer span that ends without it (an exception) is shown as failed in its last phase. Only the
/// job started from the flow that created this object is followed (an AsyncLocal marks it), and only its own layer and
/// phase spans (by parent span id): jobs running elsewhere in the process are ignored. Several jobs run one after the
/// other are shown one after the other. Dispose after the run.
/// </summary>
public sealed class JobProgress : IDisposable
{
    private static readonly AsyncLocal<JobProgress?> s_current = new();
    private readonly object _gate = new();
    private readonly ActivityListener? _listener;
    private readonly MeterListener? _meter;
    private readonly IProgressView? _view;
    private readonly List<(string Phase, int Layers, TimeSpan Time)> _phases = new();
    private readonly List<(string Phase, TimeSpan Time)> _layerPhases = new();
    private Activity? _job;
    private Activity? _layer;
    private Activity? _phase;
    private string? _lastPhase;
    private bool _layerCompleted;
    private bool _started;
    private bool _finished;
    private string _kind = "job";
    private int _totalLayers;
    private int _batches;
    private string _devices = "";
    private int? _firstLayer;
    private int _done;
    private long _firstLayerStart;
    private long _end;

    private JobProgress(ProgressMode mode, TextWriter output)
    {
        Mode = mode;
        if (mode == ProgressMode.None) return;
        _view = mode == ProgressMode.Bars ? new BarsProgressView(output, Snapshot) : new PlainProgressView(output);
        s_current.Value = this;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == OffloadTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = OnStarted,
            ActivityStopped = OnStopped,
        };
        ActivitySource.AddActivityListener(_listener);
        _meter = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == OffloadTelemetry.Name && instrument.Name == OffloadTelemetry.LayersCompleted) listener.EnableMeasurementEvents(instrument);
            },
        };
        _meter.SetMeasurementEventCallback<long>(OnLayerCompleted);
        _meter.Start();
    }

    /// <summary>The resolved mode (never <see cref="ProgressMode.Auto"/>).</summary>
    public ProgressMode Mode { get; }

    /// <summary>
    /// Starts following; <paramref name="mode"/> Auto is resolved here by whether stderr is redirected. Output goes to
    /// <paramref name="output"/> (stderr by default).
    /// </summary>
    public static JobProgress Start(ProgressMode mode, TextWriter? output = null)
    {
        if (mode == ProgressMode.Auto) mode = ProgressOption.Resolve("auto", Console.IsErrorRedirected);
        return new JobProgress(mode, output ?? Console.Error);
    }

    /// <summary>The followed job now, or null before its first layer started.</summary>
    public ProgressSnapshot? Snapshot()
    {
        lock (_gate) return _started ? SnapshotLocked() : null;
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _meter?.Dispose();
        if (s_current.Value == this) s_current.Value = null;
        // Not under the lock: the bars' render loop takes it to read its last snapshot while Dispose waits for it.
        _view?.Dispose();
    }

    private ProgressSnapshot SnapshotLocked()
    {
        var now = _finished ? _end : Stopwatch.GetTimestamp();
        var elapsed = _firstLayerStart == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_firstLayerStart, now);
        string? phase = _phase?.GetTagItem(OffloadTelemetry.AttrPhase) as string;
        int? current = _layer is null ? null : IntTag(_layer, OffloadTelemetry.AttrLayer);
        return new ProgressSnapshot(_kind, _totalLayers, _batches, _devices, _firstLayer, _done, current, phase, elapsed, _phases.ToArray(), _finished);
    }

    private static int? IntTag(Activity a, string key) => a.GetTagItem(key) switch
    {
        null => null,
        int i => i,
        long l => (int)l,
        string s when int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) => v,
        IConvertible c => c.ToInt32(CultureInfo.InvariantCulture),
        _ => null,
    };

    /// <summary>The job records a completed layer inside the layer's span (no phase open): mark that layer done.</summary>
    private void OnLayerCompleted(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var current = Activity.Current;
        if (current is null) return;
        lock (_gate)
            if (_layer is not null && (current == _layer || current.ParentSpanId == _layer.SpanId)) _layerCompleted = true;
    }

    private void OnStarted(Activity a)
    {
        lock (_gate)
        {
            switch (a.OperationName)
            {
                case OffloadTelemetry.JobSpan:
                    // Tags are set just after the start: they are read when the first layer starts.
                    if (s_current.Value != this || _job is not null) return;
                    _job = a;
                    _started = false;
                    _finished = false;
                    _done = 0;
                    _firstLayer = null;
                    _firstLayerStart = 0;
                    _phases.Clear();
                    break;
                case OffloadTelemetry.LayerSpan:
                    if (_job is null || a.ParentSpanId != _job.SpanId) return;
                    if (_firstLayerStart == 0)
                    {
                        _firstLayerStart = Stopwatch.GetTimestamp();
                        _kind = _job.GetTagItem(OffloadTelemetry.AttrJobKind) as string ?? "job";
                        _totalLayers = IntTag(_job, OffloadTelemetry.AttrLayers) ?? 0;
                        _batches = IntTag(_job, OffloadTelemetry.AttrBatches) ?? 0;
                        _devices = _job.GetTagItem(OffloadTelemetry.AttrDevices) as string ?? "";
                    }
                    _layer = a;
                    _phase = null;
                    _lastPhase = null;
                    _layerCompleted = false;
                    _layerPhases.Clear();
                    break;
                case OffloadTelemetry.PhaseSpan:
                    if (_layer is null || a.ParentSpanId != _layer.SpanId) return;
                    _phase = a;
                    if (!_started)
                    {
                        // The layer's index tag is set by now: a resumed job starts past layer 0.
                        _firstLayer = IntTag(_layer, OffloadTelemetry.AttrLayer) ?? 0;
                        _started = true;
                        _view?.Started(SnapshotLocked());
                    }
                    break;
            }
        }
    }

    private void OnStopped(Activity a)
    {
        lock (_gate)
        {
            switch (a.OperationName)
            {
                case OffloadTelemetry.PhaseSpan:
                    if (_layer is null || a.ParentSpanId != _layer.SpanId) return;
                    var name = a.GetTagItem(OffloadTelemetry.AttrPhase) as string ?? "phase";
                    _lastPhase = name;
                    _layerPhases.Add((name, a.Duration));
                    var i = _phases.FindIndex(p => p.Phase == name);
                    if (i < 0) _phases.Add((name, 1, a.Duration));
                    else _phases[i] = (name, _phases[i].Layers + 1, _phases[i].Time + a.Duration);
                    if (_phase == a) _phase = null;
                    break;
                case OffloadTelemetry.LayerSpan:
                    if (_job is null || a.ParentSpanId != _job.SpanId) return;
                    var layer = IntTag(a, OffloadTelemetry.AttrLayer) ?? (_firstLayer ?? 0) + _done;
                    if (!_started)
                    {
                        _firstLayer = layer;
                        _started = true;
                        _view?.Started(SnapshotLocked());
                    }
                    if (_layerCompleted)
                    {
                        _done++;
                        _view?.LayerDone(SnapshotLocked(), layer, a.Duration, _layerPhases.ToArray());
                    }
                    else
                    {
                        _view?.LayerFailed(SnapshotLocked(), layer, a.Duration, _lastPhase);
                    }
                    _layerPhases.Clear();
                    if (_layer == a) _layer = null;
                    break;
                case OffloadTelemetry.JobSpan:
                    if (_job != a) return;
                    _end = Stopwatch.GetTimestamp();
                    _finished = true;
                    if (_started) _view?.Finished(SnapshotLocked(), a.Duration);
                    _job = null;
                    _layer = null;
                    _phase = null;
                    break;
            }
        }
    }
}
