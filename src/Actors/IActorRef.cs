using System.Diagnostics;

namespace Offload.Actors;

/// <summary>
/// An address of an actor: the only way to talk to it. Messages are delivered one at a time, in the order each sender
/// sent them (per-sender FIFO); delivery is at-most-once. Refs compare by identity: a restarted actor keeps its ref,
/// a stopped and re-created one gets a new ref.
/// </summary>
public interface IActorRef
{
    /// <summary>Path of the actor, e.g. "offload://sys/user/parent/child"; for diagnostics and logs.</summary>
    string Path { get; }

    /// <summary>The actor system this ref belongs to (its clock serves <see cref="ActorRefExtensions.Ask{T}"/>).</summary>
    ActorSystem System { get; }

    /// <summary>Enqueues a message with its sender and trace context; never blocks, never throws for a dead target
    /// (the message becomes a <see cref="DeadLetter"/>).</summary>
    void Post(Envelope envelope);

    /// <summary>Fire-and-forget send. The current <see cref="Activity"/> (if any) travels in the envelope.</summary>
    void Tell(object message, IActorRef? sender = null) => Post(new Envelope(message, sender, Activity.Current?.Context ?? default));
}
