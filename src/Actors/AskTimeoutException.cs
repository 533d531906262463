namespace Offload.Actors;

/// <summary>An <see cref="ActorRefExtensions.Ask{T}"/> got no reply within its timeout (measured on the system's
/// <see cref="TimeProvider"/>).</summary>
public sealed class AskTimeoutException : TimeoutException
{
    public AskTimeoutException(string message) : base(message) { }
}
