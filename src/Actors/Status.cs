namespace Offload.Actors;

/// <summary>Generic replies: an <see cref="ActorRefExtensions.Ask{T}"/> that receives <see cref="Failure"/> faults
/// with its cause.</summary>
public static class Status
{
    /// <summary>The operation failed; <paramref name="Cause"/> says why.</summary>
    public sealed record Failure(Exception Cause);

    /// <summary>The operation succeeded, optionally with a value.</summary>
    public sealed record Success(object? Value);
}
