using Offload.Actors.Internal;

namespace Offload.Actors;

/// <summary>Request/response on top of Tell.</summary>
public static class ActorRefExtensions
{
    /// <summary>
    /// Sends <paramref name="message"/> with a temporary reply ref as sender and completes with the first reply of
    /// type <typeparamref name="T"/>. A <see cref="Status.Failure"/> reply faults the task with its cause; no reply
    /// within <paramref name="timeout"/> (on the system's clock) faults it with <see cref="AskTimeoutException"/>;
    /// <paramref name="cancellationToken"/> cancels it. <see cref="Timeout.InfiniteTimeSpan"/> = no timeout.
    /// </summary>
    public static Task<T> Ask<T>(this IActorRef target, object message, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(message);
        if (timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "ask timeout must be positive (or Timeout.InfiniteTimeSpan)");
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<T>(cancellationToken);
        var promise = new PromiseActorRef<T>(target.System, target, message, timeout, cancellationToken);
        promise.Start();
        return promise.Task;
    }
}
