using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Telemetry;

/// <summary>
/// An in-process view of the metrics: a <see cref="MeterListener"/> over the meters "Offload" and "System.Runtime"
/// (the .NET runtime's own, runtime-semantics.md §4.1) that keeps the current value of every instrument per attribute
/// set — counters a running sum, up-down counters the running sum of the deltas, observable instruments and gauges
/// the last value reported, histograms count / sum / min / max and the last value (see <see cref="MetricPoint"/>) —
/// and turns it into numbered <see cref="MetricSnapshot"/>s on demand (<see cref="Collect"/>) or periodically
/// (<see cref="StartPeriodic"/>). The dashboard and <c>--metrics-out</c> read it; the OTLP export goes through the
/// OpenTelemetry SDK instead and sees the same instruments.
/// <para>Series are never forgotten: an observable series that stops reporting (a stopped device) keeps its last
/// value. Thread-safe; recording costs one dictionary lookup and a short lock per measurement.</para>
/// </summary>
public sealed class MetricsCollector : IDisposable
{
    /// <summary>The .NET runtime's meter (GC, thread pool, working set, CPU time).</summary>
    public const string RuntimeMeterName = "System.Runtime";

    private readonly MeterListener _listener = new();
    private readonly HashSet<string> _meters;
    private readonly ConcurrentDictionary<Instrument, InstrumentState> _instruments = new();
    private readonly Lock _collectLock = new();
    private readonly Lock _timerLock = new();
    private Timer? _timer;
    private long _sequence;
    private bool _disposed;

    /// <summary>Listens to the meters "Offload" and "System.Runtime".</summary>
    public MetricsCollector() : this([OffloadTelemetry.Name, RuntimeMeterName]) { }

    /// <summary>Listens to the meters named <paramref name="meterNames"/> (exact names).</summary>
    public MetricsCollector(IEnumerable<string> meterNames)
    {
        _meters = new HashSet<string>(meterNames, StringComparer.Ordinal);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!_meters.Contains(instrument.Meter.Name)) return;
            _instruments.TryAdd(instrument, new InstrumentState(instrument));
            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<byte>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<short>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<float>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<decimal>((i, v, t, _) => Record(i, (double)v, t));
        _listener.Start();
    }

    /// <summary>Raised after every snapshot (by <see cref="Collect"/> or the periodic timer), in sequence order.</summary>
    public event Action<MetricSnapshot>? Collected;

    /// <summary>The last exception a <see cref="Collected"/> handler threw on the periodic timer (it does not stop the timer).</summary>
    public Exception? LastPeriodicError { get; private set; }

    /// <summary>
    /// Observes every observable instrument, then returns the current value of every series as the next numbered
    /// snapshot and raises <see cref="Collected"/> with it.
    /// </summary>
    public MetricSnapshot Collect()
    {
        lock (_collectLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _listener.RecordObservableInstruments();
            var points = new List<(string Key, MetricPoint Point)>();
            foreach (var state in _instruments.Values)
            {
                foreach (var (key, series) in state.Series)
                {
                    lock (series)
                    {
                        if (series.Count == 0) continue;
                        points.Add((key, new MetricPoint(state.Instrument.Name, state.Instrument.Unit ?? "", state.Kind, series.Attributes,
                            series.Value, series.Count, series.Sum)
                        { Min = series.Min, Max = series.Max, Meter = state.Instrument.Meter.Name }));
                    }
                }
            }
            points.Sort(static (a, b) =>
            {
                var c = string.CompareOrdinal(a.Point.Name, b.Point.Name);
                return c != 0 ? c : string.CompareOrdinal(a.Key, b.Key);
            });
            var snapshot = new MetricSnapshot(++_sequence, DateTimeOffset.UtcNow, points.ConvertAll(p => p.Point));
            Collected?.Invoke(snapshot);
            return snapshot;
        }
    }

    /// <summary>Collects every <paramref name="interval"/> on a timer (replacing a previous period) until disposed.</summary>
    public void StartPeriodic(TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        lock (_timerLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _timer?.Dispose();
            _timer = new Timer(_ =>
            {
                try { Collect(); }
                catch (ObjectDisposedException) { }
                catch (Exception ex) { LastPeriodicError = ex; }
            }, null, interval, interval);
        }
    }

    /// <summary>Stops the periodic collection (waiting for a collection in progress); <see cref="Collect"/> still works.</summary>
    public void StopPeriodic()
    {
        Timer? timer;
        lock (_timerLock)
        {
            timer = _timer;
            _timer = null;
        }
        if (timer is null) return;
        using var stopped = new ManualResetEvent(false);
        if (timer.Dispose(stopped)) stopped.WaitOne(TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        StopPeriodic();
        lock (_timerLock)
        {
            _timer?.Dispose();
            _timer = null;
        }
        lock (_collectLock)
        {
            if (_disposed) return;
            _disposed = true;
            _listener.Dispose();
        }
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (!_instruments.TryGetValue(instrument, out var state)) return;
        var key = TagKey(tags);
        if (!state.Series.TryGetValue(key, out var series))
            series = state.Series.GetOrAdd(key, new Series(ToDictionary(tags)));
        lock (series)
        {
            series.Count++;
            if (series.Count == 1) { series.Min = value; series.Max = value; }
            else { series.Min = Math.Min(series.Min, value); series.Max = Math.Max(series.Max, value); }
            switch (state.Aggregation)
            {
                case Aggregation.Sum:
                    series.Sum += value;
                    series.Value = series.Sum;
                    break;
                case Aggregation.LastValue:
                    series.Value = value;
                    series.Sum = value;
                    break;
                default:
                    series.Sum += value;
                    series.Value = value;
                    break;
            }
        }
    }

    private static string TagKey(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0) return "";
        if (tags.Length == 1) return tags[0].Key + "=" + Format(tags[0].Value);
        var sorted = tags.ToArray();
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var sb = new StringBuilder();
        foreach (var t in sorted) sb.Append(t.Key).Append('=').Append(Format(t.Value)).Append('\u001f');
        return sb.ToString();
    }

    private static IReadOnlyDictionary<string, string> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var d = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in tags) d[t.Key] = Format(t.Value);
        return d;
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private enum Aggregation { Sum, LastValue, Histogram }

    private sealed class InstrumentState
    {
        public InstrumentState(Instrument instrument)
        {
            Instrument = instrument;
            var type = instrument.GetType();
            var generic = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
            (Kind, Aggregation) = generic.Name switch
            {
                "Counter`1" => ("counter", Aggregation.Sum),
                "UpDownCounter`1" => ("updowncounter", Aggregation.Sum),
                "Histogram`1" => ("histogram", Aggregation.Histogram),
                "Gauge`1" => ("gauge", Aggregation.LastValue),
                "ObservableCounter`1" => ("observable_counter", Aggregation.LastValue),
                "ObservableUpDownCounter`1" => ("observable_updowncounter", Aggregation.LastValue),
                "ObservableGauge`1" => ("observable_gauge", Aggregation.LastValue),
                _ => (instrument.IsObservable ? "observable_gauge" : "gauge", Aggregation.LastValue),
            };
        }

        public Instrument Instrument { get; }
        public string Kind { get; }
        public Aggregation Aggregation { get; }
        public ConcurrentDictionary<string, Series> Series { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Series(IReadOnlyDictionary<string, string> attributes)
    {
        public IReadOnlyDictionary<string, string> Attributes { get; } = attributes;
        public double Value;
        public long Count;
        public double Sum;
        public double Min;
        public double Max;
    }
}
