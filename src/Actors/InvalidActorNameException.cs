namespace Offload.Actors;

/// <summary>An actor name is empty, contains '/', starts with '$', or is already taken by a live sibling.</summary>
public sealed class InvalidActorNameException : ArgumentException
{
    public InvalidActorNameException(string message) : base(message) { }
}
