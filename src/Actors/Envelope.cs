namespace Offload.Actors;

/// <summary>
/// A message in a mailbox: the immutable message, who sent it (null: no sender, replies go to dead letters) and the
/// W3C <c>traceparent</c> of the activity that sent it, so tracing continues across the mailbox
/// (<c>Activity.Current</c> does not flow through one).
/// </summary>
public readonly record struct Envelope(object Message, IActorRef? Sender = null, string? TraceParent = null);
