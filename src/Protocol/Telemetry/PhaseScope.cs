using System.Diagnostics;

namespace Offload.Protocol.Telemetry;

/// <summary>One phase of one layer in flight (see <see cref="OffloadTelemetry.StartPhase"/>); dispose to end it.</summary>
public sealed class PhaseScope : IDisposable
{
    private readonly string _jobKind;
    private readonly string _phase;
    private readonly long _start = Stopwatch.GetTimestamp();
    private bool _done;

    internal PhaseScope(string jobKind, string phase, int layer)
    {
        _jobKind = jobKind;
        _phase = phase;
        Activity = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.PhaseSpan);
        Activity?.SetTag(OffloadTelemetry.AttrPhase, phase);
        Activity?.SetTag(OffloadTelemetry.AttrLayer, layer);
        Activity?.SetTag(OffloadTelemetry.AttrJobKind, jobKind);
    }

    /// <summary>The phase's span, or null when nobody listens.</summary>
    public Activity? Activity { get; }

    /// <summary>Time since the phase started.</summary>
    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(_start);

    public void Dispose()
    {
        if (_done) return;
        _done = true;
        OffloadTelemetry.PhaseDurationHistogram.Record(Elapsed.TotalSeconds,
            new KeyValuePair<string, object?>(OffloadTelemetry.AttrPhase, _phase),
            new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, _jobKind));
        Activity?.Dispose();
    }
}
