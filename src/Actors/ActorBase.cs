using Microsoft.Extensions.Logging;
using Offload.Actors.Internal;

namespace Offload.Actors;

/// <summary>
/// Base of every actor. An actor processes one message at a time; its state needs no locks. Create it only through
/// <see cref="Props"/> and <see cref="ActorSystem.ActorOf"/> / <see cref="IActorContext.ActorOf"/>.
/// <para>Lifecycle: constructor → <see cref="PreStart"/> → messages → <see cref="PostStop"/>. On a restart the old
/// instance gets <see cref="PreRestart"/> (default: stop children, then PostStop), a new instance is created from
/// the Props and gets <see cref="PostRestart"/> (default: PreStart); pending messages stay in the mailbox.</para>
/// </summary>
public abstract class ActorBase
{
    private readonly ActorCell _cell;

    protected ActorBase()
    {
        _cell = ActorCell.Constructing
            ?? throw new InvalidOperationException($"{GetType().Name}: create actors through Props and ActorOf, not with new");
    }

    protected IActorContext Context => _cell;

    protected IActorRef Self => _cell.Self;

    protected IActorRef Sender => _cell.Sender;

    protected ITimerScheduler Timers => _cell.Timers;

    protected ILogger Log => _cell.Log;

    /// <summary>Handles one message; returns false when the message is not handled (it becomes a dead letter, and an
    /// unhandled <see cref="Terminated"/> fails the actor).</summary>
    protected abstract bool Receive(object message);

    protected virtual void PreStart() { }

    protected virtual void PostStop() { }

    protected virtual void PreRestart(Exception reason, object? message)
    {
        foreach (var child in _cell.Children) _cell.Stop(child);
        PostStop();
    }

    protected virtual void PostRestart(Exception reason) => PreStart();

    /// <summary>Strategy this actor applies to its children; default: the Props' strategy or
    /// <see cref="SupervisorStrategy.Default"/>.</summary>
    protected virtual SupervisorStrategy SupervisorStrategy() => _cell.Props.SupervisorStrategy ?? Actors.SupervisorStrategy.Default;

    /// <summary>Called for a message no behaviour handled: dead-letters it with the reason, or fails the actor for an
    /// unhandled <see cref="Terminated"/>.</summary>
    protected virtual void Unhandled(object message)
    {
        if (message is Terminated t) throw new DeathPactException(t.ActorRef);
        _cell.System.PublishDeadLetter(message, _cell.CurrentSenderOrNull, Self, $"unhandled by {GetType().Name}");
    }

    internal ActorCell Cell => _cell;

    internal virtual ValueTask<bool> ReceiveEntry(object message) => new(Receive(message));

    internal void InvokeUnhandled(object message) => Unhandled(message);

    internal void InvokePreStart() => PreStart();

    internal void InvokePostStop() => PostStop();

    internal void InvokePreRestart(Exception reason, object? message) => PreRestart(reason, message);

    internal void InvokePostRestart(Exception reason) => PostRestart(reason);

    internal SupervisorStrategy InvokeSupervisorStrategy() => SupervisorStrategy();
}
