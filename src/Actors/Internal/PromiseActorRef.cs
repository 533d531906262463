namespace Offload.Actors.Internal;

/// <summary>
/// The temporary reply ref of one Ask: the first reply completes the task (a <see cref="Status.Failure"/> faults it);
/// the timeout runs on the system's <see cref="TimeProvider"/>; cancellation cancels it. Replies after completion
/// become dead letters. The system roots it while pending so its timer cannot be collected.
/// </summary>
internal sealed class PromiseActorRef<T> : InternalActorRef
{
    private readonly ActorSystem _system;
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IActorRef _target;
    private readonly object _message;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _cancellation;
    private ITimer? _timer;
    private CancellationTokenRegistration _registration;

    public PromiseActorRef(ActorSystem system, IActorRef target, object message, TimeSpan timeout, CancellationToken cancellation)
    {
        _system = system;
        _target = target;
        _message = message;
        _timeout = timeout;
        _cancellation = cancellation;
        Path = $"{system.RootPath}/temp/$ask{system.NextTempId()}";
    }

    public override string Path { get; }

    public override ActorSystem System => _system;

    public Task<T> Task => _completion.Task;

    /// <summary>Arms the timeout and the cancellation, then sends the question.</summary>
    public void Start()
    {
        _system.Root(this);
        if (_timeout != Timeout.InfiniteTimeSpan)
        {
            _timer = _system.TimeProvider.CreateTimer(static s => ((PromiseActorRef<T>)s!).OnTimeout(), this, _timeout, Timeout.InfiniteTimeSpan);
        }
        if (_cancellation.CanBeCanceled)
        {
            _registration = _cancellation.Register(static s => ((PromiseActorRef<T>)s!).OnCancel(), this);
        }
        if (_completion.Task.IsCompleted)
        {
            Cleanup();
            return;
        }
        _target.Post(new Envelope(_message, this, global::System.Diagnostics.Activity.Current?.Context ?? default));
    }

    public override void Post(Envelope envelope)
    {
        var completed = envelope.Message switch
        {
            Status.Failure failure => _completion.TrySetException(failure.Cause),
            T reply => _completion.TrySetResult(reply),
            _ => _completion.TrySetException(new InvalidCastException(
                $"ask of {_target.Path} expected a {typeof(T).Name} reply but got a {envelope.Message.GetType().Name}")),
        };
        if (completed) Cleanup();
        else _system.PublishDeadLetter(envelope.Message, envelope.Sender, this, "reply to an ask that already completed (answered, timed out or cancelled)");
    }

    public override void SendSystem(SystemMessage message)
    {
        if (message is Watch watch && _completion.Task.IsCompleted) watch.Watcher.SendSystem(new DeathWatchNotification(this));
    }

    private void OnTimeout()
    {
        if (_completion.TrySetException(new AskTimeoutException(
                $"ask of {_target.Path} with {_message.GetType().Name} got no reply within {_timeout.TotalSeconds:0.###} s")))
            Cleanup();
    }

    private void OnCancel()
    {
        if (_completion.TrySetCanceled(_cancellation)) Cleanup();
    }

    private void Cleanup()
    {
        _timer?.Dispose();
        _registration.Dispose();
        _system.Unroot(this);
    }
}
