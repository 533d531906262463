namespace Offload.Actors;

/// <summary>An actor watched another one and did not handle its <see cref="Terminated"/>; the default supervisor strategy
/// stops it (a death pact).</summary>
public sealed class DeathPactException : Exception
{
    public DeathPactException(IActorRef dead) : base($"unhandled Terminated for {dead.Path}: handle Terminated or Unwatch")
    {
        DeadActor = dead;
    }

    public IActorRef DeadActor { get; }
}
