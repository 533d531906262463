using System.Diagnostics;

namespace Offload.Runtime;

/// <summary>
/// A user message with the trace context of the span that was current where it was sent. The
/// <see cref="MeteredMailbox"/> wraps messages bound for a <see cref="TracedReceiveActor"/>; that actor unwraps them
/// before its handlers see them, so no handler ever receives this type.
/// </summary>
public sealed record TracedMessage(object Message, ActivityContext Parent);
