namespace Offload.Actors;

/// <summary>
/// Per-actor timers keyed by any value. Starting a timer with a key that is in use replaces it. Messages of a
/// cancelled or replaced timer are not delivered, even if already queued. Timers stop with the actor and on restart.
/// </summary>
public interface ITimerScheduler
{
    void StartSingleTimer(object key, object message, TimeSpan delay);

    void StartPeriodicTimer(object key, object message, TimeSpan interval);

    void StartPeriodicTimer(object key, object message, TimeSpan initialDelay, TimeSpan interval);

    bool IsTimerActive(object key);

    void Cancel(object key);

    void CancelAll();
}
