using System.Diagnostics;
using Offload.Actors.Internal;

namespace Offload.Actors;

/// <summary>
/// A message in a mailbox: the immutable message, who sent it (null: no sender, replies go to dead letters) and the
/// trace context of the activity that sent it (<c>default</c>: none), so tracing continues across the mailbox
/// (<c>Activity.Current</c> does not flow through one). The receiving cell starts its
/// <c>offload.actor.message</c> span as a child of it.
/// </summary>
public readonly record struct Envelope(object Message, IActorRef? Sender = null, ActivityContext TraceContext = default)
{
    /// <summary>The trace context as a W3C <c>traceparent</c> (what crosses a process), or null when there is none.</summary>
    public string? TraceParent => TraceContextFormat.ToTraceParent(TraceContext);
}
