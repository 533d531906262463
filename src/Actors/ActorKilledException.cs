namespace Offload.Actors;

/// <summary>Raised inside an actor that received <see cref="Kill"/>; the default supervisor strategy stops it.</summary>
public sealed class ActorKilledException : Exception
{
    public ActorKilledException(string message) : base(message) { }
}
