namespace Offload.Actors;

/// <summary>An actor's constructor or <c>PreStart</c> threw; the default supervisor strategy stops such an actor.</summary>
public sealed class ActorInitializationException : Exception
{
    public ActorInitializationException(string message, Exception inner) : base(message, inner) { }
}
