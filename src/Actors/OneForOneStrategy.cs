using Offload.Actors.Internal;

namespace Offload.Actors;

/// <summary>
/// Applies the decider's directive to the failing child only. With <c>maxNrOfRetries</c> ≥ 0, a child restarted more
/// than that many times within <c>withinTimeRange</c> (on the system's clock; null = ever) is stopped instead.
/// </summary>
public sealed class OneForOneStrategy : SupervisorStrategy
{
    private readonly Func<Exception, Directive> _decider;

    public OneForOneStrategy(Func<Exception, Directive> decider, bool loggingEnabled = true)
        : this(-1, null, decider, loggingEnabled)
    {
    }

    public OneForOneStrategy(int maxNrOfRetries, TimeSpan? withinTimeRange, Func<Exception, Directive> decider, bool loggingEnabled = true)
        : base(loggingEnabled)
    {
        ArgumentNullException.ThrowIfNull(decider);
        if (withinTimeRange is { } w && w <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(withinTimeRange), w, "withinTimeRange must be positive or null (no window)");
        MaxNrOfRetries = maxNrOfRetries;
        WithinTimeRange = withinTimeRange;
        _decider = decider;
    }

    /// <summary>Restarts allowed within <see cref="WithinTimeRange"/>; negative = unlimited.</summary>
    public int MaxNrOfRetries { get; }

    public TimeSpan? WithinTimeRange { get; }

    internal override Directive Handle(Exception cause, ChildRestartStats stats, DateTimeOffset now)
    {
        var directive = _decider(cause);
        if (directive != Directive.Restart || MaxNrOfRetries < 0) return directive;
        return stats.RequestRestart(MaxNrOfRetries, WithinTimeRange, now) ? Directive.Restart : Directive.Stop;
    }
}
