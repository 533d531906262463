using Offload.Coordinator.Telemetry;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// A running dashboard: the HTTP server, a <see cref="JobTracker"/> over the job's spans, and a subscription to a
/// <see cref="MetricsCollector"/> — every snapshot it collects (periodic or final) becomes one frame with that
/// snapshot's sequence, so the page and <c>--metrics-out</c> show the same numbers for the same sequence. Start it
/// before the job (the tracker must see the job span start). Disposing first runs <c>finishMetrics</c> (the owner's
/// final snapshot, which still reaches the page), then sends the last snapshot once more, with the job's final state,
/// as the <c>end</c> event, and stops the server.
/// </summary>
public sealed class DashboardSession : IDisposable
{
    private readonly MetricsCollector _metrics;
    private readonly JobTracker _tracker;
    private readonly DashboardFeed _feed;
    private readonly DashboardServer _server;
    private readonly Action? _finishMetrics;
    private readonly Lock _lock = new();
    private MetricSnapshot? _last;
    private int _disposing;
    private bool _disposed;

    private DashboardSession(MetricsCollector metrics, JobTracker tracker, DashboardServer server, Action? finishMetrics)
    {
        _metrics = metrics;
        _finishMetrics = finishMetrics;
        _tracker = tracker;
        _feed = new DashboardFeed(tracker);
        _server = server;
        _metrics.Collected += OnCollected;
    }

    /// <summary>The page's address (with the bound port).</summary>
    public Uri Url => _server.Url;

    /// <summary>The job state the page shows.</summary>
    public JobTracker Job => _tracker;

    /// <summary>
    /// Serves the dashboard at <paramref name="address"/> with the snapshots of <paramref name="metrics"/>;
    /// <paramref name="finishMetrics"/> (optional) takes the final snapshot when the session ends.
    /// </summary>
    public static DashboardSession Start(DashboardAddress address, MetricsCollector metrics, Action? finishMetrics = null)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var tracker = new JobTracker();
        try
        {
            return new DashboardSession(metrics, tracker, DashboardServer.Start(address), finishMetrics);
        }
        catch
        {
            tracker.Dispose();
            throw;
        }
    }

    /// <summary>Shows a failure the command caught (the job is marked failed on the page).</summary>
    public void ReportError(string message) => _tracker.ReportError(message);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0) return;
        try
        {
            _finishMetrics?.Invoke();
        }
        catch (Exception ex)
        {
            _tracker.ReportError($"final metrics snapshot: {ex.Message}");
        }
        lock (_lock)
        {
            _disposed = true;
            _metrics.Collected -= OnCollected;
            if (_last is not null) _server.Complete(_last.Sequence, _feed.Frame(_last));
            else _server.Complete(0, "null");
        }
        _server.Dispose();
        _tracker.Dispose();
    }

    private void OnCollected(MetricSnapshot snapshot)
    {
        lock (_lock)
        {
            if (_disposed) return;
            _last = snapshot;
            _server.Publish(snapshot.Sequence, _feed.Frame(snapshot));
        }
    }
}
