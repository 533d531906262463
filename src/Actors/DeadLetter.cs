namespace Offload.Actors;

/// <summary>
/// A message that could not be delivered or handled, with the reason (recipient stopped, unhandled, buffer full, ask
/// already completed…). Logged and published on <see cref="ActorSystem.EventStream"/>; never dropped silently.
/// </summary>
public sealed record DeadLetter(object Message, IActorRef? Sender, IActorRef Recipient, string Reason);
