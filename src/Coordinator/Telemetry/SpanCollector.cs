using System.Diagnostics;
using System.Globalization;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Telemetry;

/// <summary>
/// The span feed: an <see cref="ActivityListener"/> on the ActivitySource "Offload" that records every span (so
/// spans exist while it lives, even without an exporter), keeps the last <see cref="Capacity"/> finished ones in a
/// ring (<see cref="Recent"/>) and raises <see cref="Finished"/> for each, on the thread that ended it.
/// </summary>
public sealed class SpanCollector : IDisposable
{
    /// <summary>Ring size when none is given.</summary>
    public const int DefaultCapacity = 4096;

    private readonly ActivityListener _listener;
    private readonly SpanRecord?[] _ring;
    private readonly Lock _lock = new();
    private long _finished;

    /// <summary>Starts listening; keeps the last <paramref name="capacity"/> finished spans.</summary>
    public SpanCollector(int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _ring = new SpanRecord?[capacity];
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == OffloadTelemetry.Name,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = OnStopped,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>How many finished spans the ring keeps.</summary>
    public int Capacity => _ring.Length;

    /// <summary>Spans finished since this collector started (including those the ring no longer holds).</summary>
    public long FinishedCount => Interlocked.Read(ref _finished);

    /// <summary>Raised once per finished span, on the thread that stopped it; keep handlers short.</summary>
    public event Action<SpanRecord>? Finished;

    /// <summary>The finished spans the ring still holds, oldest first.</summary>
    public IReadOnlyList<SpanRecord> Recent()
    {
        lock (_lock)
        {
            var n = (int)Math.Min(_finished, _ring.Length);
            var list = new List<SpanRecord>(n);
            for (var i = _finished - n; i < _finished; i++) list.Add(_ring[i % _ring.Length]!);
            return list;
        }
    }

    public void Dispose() => _listener.Dispose();

    private void OnStopped(Activity activity)
    {
        var record = ToRecord(activity);
        lock (_lock)
        {
            _ring[_finished % _ring.Length] = record;
            _finished++;
        }
        Finished?.Invoke(record);
    }

    /// <summary>The record of a finished <paramref name="activity"/>.</summary>
    public static SpanRecord ToRecord(Activity activity)
    {
        var tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in activity.EnumerateTagObjects())
        {
            tags[key] = value switch
            {
                null => "",
                string s => s,
                bool b => b ? "true" : "false",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString() ?? "",
            };
        }
        var parent = activity.ParentSpanId == default ? null : activity.ParentSpanId.ToHexString();
        var status = activity.Status switch
        {
            ActivityStatusCode.Ok => "ok",
            ActivityStatusCode.Error => "error",
            _ => "unset",
        };
        return new SpanRecord(activity.OperationName, activity.TraceId.ToHexString(), activity.SpanId.ToHexString(), parent,
            new DateTimeOffset(activity.StartTimeUtc, TimeSpan.Zero), activity.Duration, status, activity.StatusDescription, tags);
    }
}
