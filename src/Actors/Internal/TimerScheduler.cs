namespace Offload.Actors.Internal;

/// <summary>
/// <see cref="ITimerScheduler"/> of one cell. Every start gets a new generation; a fired message carries its
/// generation and is accepted only if that timer is still the live one for its key. Used only on the actor's turn.
/// </summary>
internal sealed class TimerScheduler : ITimerScheduler
{
    private readonly ActorCell _cell;
    private readonly Dictionary<object, Entry> _timers = new();
    private int _generation;

    public TimerScheduler(ActorCell cell) => _cell = cell;

    public void StartSingleTimer(object key, object message, TimeSpan delay) =>
        Start(key, message, delay, Timeout.InfiniteTimeSpan);

    public void StartPeriodicTimer(object key, object message, TimeSpan interval) =>
        StartPeriodicTimer(key, message, interval, interval);

    public void StartPeriodicTimer(object key, object message, TimeSpan initialDelay, TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(interval), interval, "a periodic timer needs a positive interval");
        Start(key, message, initialDelay, interval);
    }

    public bool IsTimerActive(object key) => _timers.ContainsKey(key);

    public void Cancel(object key)
    {
        if (_timers.Remove(key, out var entry)) entry.Timer.Dispose();
    }

    public void CancelAll()
    {
        foreach (var entry in _timers.Values) entry.Timer.Dispose();
        _timers.Clear();
    }

    /// <summary>Whether a fired message belongs to the live timer of its key (a single timer is then done).</summary>
    public bool Accept(TimerMessage message)
    {
        if (!_timers.TryGetValue(message.Key, out var entry) || entry.Generation != message.Generation) return false;
        if (!entry.Periodic)
        {
            _timers.Remove(message.Key);
            entry.Timer.Dispose();
        }
        return true;
    }

    private void Start(object key, object message, TimeSpan delay, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(message);
        if (delay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(delay), delay, "a timer delay cannot be negative");
        Cancel(key);
        var generation = ++_generation;
        var state = new Fire(_cell.SelfRef, new TimerMessage(key, generation, message));
        var timer = _cell.System.TimeProvider.CreateTimer(static s => ((Fire)s!).Post(), state, delay, period);
        _timers[key] = new Entry(timer, generation, period != Timeout.InfiniteTimeSpan);
    }

    private sealed record Entry(ITimer Timer, int Generation, bool Periodic);

    private sealed record Fire(LocalActorRef Target, TimerMessage Message)
    {
        public void Post() => Target.Post(new Envelope(Message, Target));
    }
}
