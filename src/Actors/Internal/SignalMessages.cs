namespace Offload.Actors.Internal;

/// <summary>A timer's message, tagged so a cancelled or replaced timer's queued message can be recognised and dropped.</summary>
internal sealed record TimerMessage(object Key, int Generation, object Message);

/// <summary>A watched actor stopped; delivered as <see cref="Terminated"/> only while still watched.</summary>
internal sealed record WatchedTerminated(Terminated Terminated);

/// <summary>The receive-timeout timer fired; delivered as <see cref="ReceiveTimeout"/> only if the actor was idle long enough.</summary>
internal sealed record ReceiveTimeoutSignal
{
    public static readonly ReceiveTimeoutSignal Instance = new();
}
