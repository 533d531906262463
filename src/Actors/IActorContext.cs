using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Offload.Actors;

/// <summary>
/// What an actor sees of itself while it processes a message. Only valid on the actor's own turn (in its handlers,
/// constructor and lifecycle hooks, including after an await inside an async handler); never capture it into other
/// threads.
/// </summary>
public interface IActorContext
{
    IActorRef Self { get; }

    /// <summary>Sender of the current message; the dead-letter ref when there is none.</summary>
    IActorRef Sender { get; }

    IActorRef Parent { get; }

    ActorSystem System { get; }

    Props Props { get; }

    /// <summary>W3C traceparent carried by the current message's envelope, if any.</summary>
    string? TraceParent { get; }

    /// <summary>
    /// The trace context carried by the current message's envelope (<c>default</c> when none). While a handler runs,
    /// <see cref="Activity.Current"/> is the message's <c>offload.actor.message</c> span, a child of
    /// this context, whenever the envelope has one and anyone listens to the ActivitySource "Offload".
    /// </summary>
    ActivityContext TraceContext { get; }

    /// <summary>Logger named after the actor's type.</summary>
    ILogger Log { get; }

    /// <summary>Timers owned by this actor: cancelled on stop and restart; a cancelled timer's queued message is never
    /// delivered. All delays run on the system's <see cref="TimeProvider"/>.</summary>
    ITimerScheduler Timers { get; }

    /// <summary>Live children.</summary>
    IReadOnlyCollection<IActorRef> Children { get; }

    /// <summary>Creates a child supervised by this actor. Names are unique among live siblings; null picks one.</summary>
    IActorRef ActorOf(Props props, string? name = null);

    /// <summary>The live child with that name, or null.</summary>
    IActorRef? Child(string name);

    /// <summary>Stops a child or this actor (asynchronously; pending messages become dead letters).</summary>
    void Stop(IActorRef actor);

    /// <summary>Delivers <see cref="Terminated"/> once when <paramref name="subject"/> stops (at once if it is dead).</summary>
    IActorRef Watch(IActorRef subject);

    /// <summary>Stops watching; no <see cref="Terminated"/> for that subject is delivered afterwards.</summary>
    IActorRef Unwatch(IActorRef subject);

    /// <summary>Replaces (or, with <paramref name="discardOld"/> false, stacks on) the current behaviour.</summary>
    void Become(Func<object, bool> receive, bool discardOld = true);

    /// <summary>Async behaviour: the next message waits until the returned task completes.</summary>
    void Become(Func<object, ValueTask<bool>> receive, bool discardOld = true);

    /// <summary>Pops a stacked behaviour (never the initial one).</summary>
    void Unbecome();

    /// <summary>Keeps the current message aside until <see cref="UnstashAll"/>.</summary>
    void Stash();

    /// <summary>Puts every stashed message back in front of the mailbox, oldest first.</summary>
    void UnstashAll();

    /// <summary>Sends <see cref="ReceiveTimeout"/> after this span without messages; null turns it off.</summary>
    void SetReceiveTimeout(TimeSpan? timeout);

    /// <summary>Sends <paramref name="message"/> to <paramref name="target"/> keeping the current sender and trace context.</summary>
    void Forward(IActorRef target, object message);
}
