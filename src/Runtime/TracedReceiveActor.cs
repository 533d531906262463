using System.Diagnostics;
using Akka.Actor;
using Offload.Protocol.Telemetry;

namespace Offload.Runtime;

/// <summary>
/// A <see cref="ReceiveActor"/> whose messages carry the sender's trace context: a message sent while a span was
/// current is handled inside a <see cref="OffloadTelemetry.ActorMessageSpan"/> span, a child of the sender's, current
/// while the handler runs (spans the handler opens are its children; async handlers keep it as their parent). Tags:
/// actor.type, offload.message.type; status error when the handler threw. The context travels in the mailbox
/// (<see cref="MeteredMailbox"/> wraps the message in a <see cref="TracedMessage"/>), so it costs nothing when nobody
/// listens. A message that arrives before the actor's cell has started (right after <c>ActorOf</c>) is moved into the
/// mailbox by Akka.NET off the sender's thread and is handled without a message span.
/// </summary>
public abstract class TracedReceiveActor : ReceiveActor
{
    /// <summary>Unwraps a <see cref="TracedMessage"/> and handles it inside its message span.</summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        if (message is not TracedMessage traced) return base.AroundReceive(receive, message);
        var span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.ActorMessageSpan, ActivityKind.Internal, traced.Parent);
        if (span is null) return base.AroundReceive(receive, traced.Message);
        span.SetTag(OffloadTelemetry.AttrActorType, GetType().Name);
        span.SetTag(OffloadTelemetry.AttrMessageType, traced.Message.GetType().Name);
        try
        {
            return base.AroundReceive(receive, traced.Message);
        }
        catch (Exception ex)
        {
            span.SetStatus(ActivityStatusCode.Error, $"{ex.GetType().Name}: {ex.Message}");
            throw;
        }
        finally
        {
            span.Stop();
        }
    }
}
