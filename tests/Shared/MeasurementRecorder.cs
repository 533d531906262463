using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Offload.Tests.Shared;

/// <summary>
/// Test helper: a <see cref="MeterListener"/> that records every long/double measurement of the named instruments of
/// the meter "Offload" (name, value, tags). <see cref="Observe"/> polls the observable ones.
/// </summary>
public sealed class MeasurementRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly HashSet<string> _names;
    private readonly ConcurrentQueue<(string Name, double Value, Dictionary<string, string> Tags)> _seen = new();

    public MeasurementRecorder(params string[] instrumentNames)
    {
        _names = new HashSet<string>(instrumentNames, StringComparer.Ordinal);
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == "Offload" && _names.Contains(i.Name)) l.EnableMeasurementEvents(i);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Add(i.Name, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Add(i.Name, v, t));
        _listener.Start();
    }

    /// <summary>Every measurement so far, in arrival order.</summary>
    public IReadOnlyList<(string Name, double Value, Dictionary<string, string> Tags)> All => _seen.ToArray();

    /// <summary>Measurements of <paramref name="name"/> whose tag <paramref name="key"/> equals <paramref name="value"/>.</summary>
    public IReadOnlyList<double> Values(string name, string key, string value) =>
        _seen.Where(m => m.Name == name && m.Tags.TryGetValue(key, out var v) && v == value).Select(m => m.Value).ToArray();

    /// <summary>Polls the observable instruments once (their measurements are appended).</summary>
    public void Observe() => _listener.RecordObservableInstruments();

    /// <summary>Forgets what was recorded.</summary>
    public void Clear() => _seen.Clear();

    public void Dispose() => _listener.Dispose();

    private void Add(string name, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in tags) d[t.Key] = Convert.ToString(t.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
        _seen.Enqueue((name, value, d));
    }
}
