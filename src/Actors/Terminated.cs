namespace Offload.Actors;

/// <summary>
/// Sent once to every watcher (see <see cref="IActorContext.Watch"/>) after <paramref name="ActorRef"/> stopped, after
/// every message that actor sent to the watcher. Watching an actor that is already dead delivers it at once.
/// An actor that does not handle it fails with <see cref="DeathPactException"/>.
/// </summary>
public sealed record Terminated(IActorRef ActorRef);
