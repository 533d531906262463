namespace Offload.Actors.Internal;

/// <summary>
/// Messages between actor cells about lifecycle, supervision and death watch. They travel in a separate system
/// mailbox that is drained before every user message and also while the actor is suspended after a failure.
/// </summary>
internal abstract record SystemMessage;

/// <summary>First message of every cell: construct the instance, run PreStart.</summary>
internal sealed record Create : SystemMessage
{
    public static readonly Create Instance = new();
}

/// <summary>Stop: stop the children, wait for them, PostStop, notify parent and watchers.</summary>
internal sealed record Terminate : SystemMessage
{
    public static readonly Terminate Instance = new();
}

/// <summary>Supervisor's Restart directive.</summary>
internal sealed record Recreate(Exception Cause) : SystemMessage;

/// <summary>Supervisor's Resume directive.</summary>
internal sealed record Resume : SystemMessage
{
    public static readonly Resume Instance = new();
}

/// <summary>Child → parent: I threw <paramref name="Cause"/> and am suspended until you decide.</summary>
internal sealed record Failed(InternalActorRef Child, Exception Cause) : SystemMessage;

/// <summary>Watcher → watchee: tell me when you stop.</summary>
internal sealed record Watch(InternalActorRef Watchee, InternalActorRef Watcher) : SystemMessage;

/// <summary>Watcher → watchee: forget me.</summary>
internal sealed record Unwatch(InternalActorRef Watchee, InternalActorRef Watcher) : SystemMessage;

/// <summary>Watchee → watcher: I stopped (becomes a <see cref="Terminated"/> user message if still watched).</summary>
internal sealed record DeathWatchNotification(InternalActorRef Actor) : SystemMessage;

/// <summary>Child → parent: I stopped; my name is free again.</summary>
internal sealed record ChildTerminated(InternalActorRef Child) : SystemMessage;
