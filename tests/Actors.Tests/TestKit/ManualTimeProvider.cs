namespace Offload.Actors.Tests.TestKit;

/// <summary>
/// A clock that moves only when told to. Timers fire synchronously on the thread that advances the clock, one at a
/// time in due order (ties in creation order), with the clock set to each timer's due time while it fires.
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly object _gate = new();
    private readonly List<ManualTimer> _timers = new();
    private DateTimeOffset _now;
    private long _sequence;

    public ManualTimeProvider(DateTimeOffset? start = null) => _now = start ?? new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate) return _now;
    }

    public override long GetTimestamp()
    {
        lock (_gate) return _now.UtcTicks;
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary>Timers that are armed (for diagnostics).</summary>
    public int ArmedTimers
    {
        get
        {
            lock (_gate) return _timers.Count(t => t.Due is not null);
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new ManualTimer(this, callback, state);
        lock (_gate) _timers.Add(timer);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Fires every timer due up to now + <paramref name="by"/>, then leaves the clock there.</summary>
    public void Advance(TimeSpan by)
    {
        if (by < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(by), by, "time only moves forward");
        var until = GetUtcNow() + by;
        while (FireNext(until)) { }
        SetNow(until);
    }

    /// <summary>Fires the earliest timer due at or before <paramref name="until"/> (moving the clock to its due time);
    /// false when none is due.</summary>
    public bool FireNext(DateTimeOffset until)
    {
        ManualTimer? next = null;
        lock (_gate)
        {
            foreach (var timer in _timers)
            {
                if (timer.Due is not { } due || due > until) continue;
                if (next is null || due < next.Due || (due == next.Due && timer.Sequence < next.Sequence)) next = timer;
            }
            if (next is null) return false;
            if (next.Due!.Value > _now) _now = next.Due.Value;
            next.Due = next.Period is { } period ? next.Due + period : null;
        }
        next.Callback(next.State);
        return true;
    }

    /// <summary>Moves the clock forward without firing anything (used after <see cref="FireNext"/>).</summary>
    public void SetNow(DateTimeOffset now)
    {
        lock (_gate)
        {
            if (now > _now) _now = now;
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public TimerCallback Callback { get; } = callback;
        public object? State { get; } = state;
        public DateTimeOffset? Due { get; set; }
        public TimeSpan? Period { get; set; }
        public long Sequence { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                if (!owner._timers.Contains(this)) return false;
                Sequence = ++owner._sequence;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
                Period = period == Timeout.InfiniteTimeSpan || period == TimeSpan.Zero ? null : period;
                return true;
            }
        }

        public void Dispose()
        {
            lock (owner._gate) owner._timers.Remove(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
