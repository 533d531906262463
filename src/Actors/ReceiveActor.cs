namespace Offload.Actors;

/// <summary>
/// An actor whose behaviour is a list of typed handlers registered in its constructor (or in a <see cref="Become"/>
/// block): the first handler whose type (and optional predicate) matches a message gets it. Async handlers keep the
/// one-message-at-a-time rule: the next message waits until the handler's task completes.
/// </summary>
public abstract class ReceiveActor : ActorBase
{
    private List<Handler> _registering = new();
    private Handler[]? _initial;

    protected void Receive<T>(Action<T> handler, Predicate<T>? shouldHandle = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _registering.Add(new SyncHandler<T>(handler, shouldHandle));
    }

    protected void Receive<T>(Predicate<T> shouldHandle, Action<T> handler) => Receive(handler, shouldHandle);

    protected void ReceiveAsync<T>(Predicate<T> shouldHandle, Func<T, Task> handler) => ReceiveAsync(handler, shouldHandle);

    protected void ReceiveAsync<T>(Func<T, Task> handler, Predicate<T>? shouldHandle = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _registering.Add(new AsyncHandler<T>(handler, shouldHandle));
    }

    protected void ReceiveAny(Action<object> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _registering.Add(new SyncHandler<object>(handler, null));
    }

    protected void ReceiveAnyAsync(Func<object, Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _registering.Add(new AsyncHandler<object>(handler, null));
    }

    /// <summary>Replaces the behaviour with the handlers that <paramref name="configure"/> registers.</summary>
    protected void Become(Action configure) => Context.Become(Build(configure), discardOld: true);

    /// <summary>Stacks a behaviour; <see cref="UnbecomeStacked"/> returns to the previous one.</summary>
    protected void BecomeStacked(Action configure) => Context.Become(Build(configure), discardOld: false);

    protected void UnbecomeStacked() => Context.Unbecome();

    protected sealed override bool Receive(object message) =>
        throw new InvalidOperationException("ReceiveActor dispatches through ReceiveEntry");

    internal override ValueTask<bool> ReceiveEntry(object message)
    {
        _initial ??= Seal();
        return Dispatch(_initial, message);
    }

    private Func<object, ValueTask<bool>> Build(Action configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _initial ??= Seal();
        var saved = _registering;
        _registering = new List<Handler>();
        try
        {
            configure();
            var handlers = _registering.ToArray();
            return message => Dispatch(handlers, message);
        }
        finally
        {
            _registering = saved;
        }
    }

    private Handler[] Seal()
    {
        var handlers = _registering.ToArray();
        _registering = new List<Handler>();
        return handlers;
    }

    private static ValueTask<bool> Dispatch(Handler[] handlers, object message)
    {
        for (var i = 0; i < handlers.Length; i++)
        {
            if (handlers[i].TryHandle(message, out var pending)) return pending;
        }
        return new ValueTask<bool>(false);
    }

    private abstract class Handler
    {
        public abstract bool TryHandle(object message, out ValueTask<bool> pending);
    }

    private sealed class SyncHandler<T>(Action<T> action, Predicate<T>? predicate) : Handler
    {
        public override bool TryHandle(object message, out ValueTask<bool> pending)
        {
            if (message is T typed && (predicate is null || predicate(typed)))
            {
                action(typed);
                pending = new ValueTask<bool>(true);
                return true;
            }
            pending = default;
            return false;
        }
    }

    private sealed class AsyncHandler<T>(Func<T, Task> func, Predicate<T>? predicate) : Handler
    {
        public override bool TryHandle(object message, out ValueTask<bool> pending)
        {
            if (message is T typed && (predicate is null || predicate(typed)))
            {
                var task = func(typed);
                pending = task.IsCompletedSuccessfully ? new ValueTask<bool>(true) : AwaitTrue(task);
                return true;
            }
            pending = default;
            return false;
        }

        private static async ValueTask<bool> AwaitTrue(Task task)
        {
            await task.ConfigureAwait(false);
            return true;
        }
    }
}
