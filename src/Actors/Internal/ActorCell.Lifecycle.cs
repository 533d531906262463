using Microsoft.Extensions.Logging;

namespace Offload.Actors.Internal;

internal sealed partial class ActorCell
{
    private HashSet<IActorRef>? _watching;
    private HashSet<InternalActorRef>? _watchedBy;
    private HashSet<IActorRef>? _pendingTerminated;
    private HashSet<InternalActorRef>? _stoppingChildren;
    private Dictionary<InternalActorRef, ChildRestartStats>? _childStats;
    private InternalActorRef? _escalatedChild;
    private bool _awaitingDirective;
    private object? _failedMessage;
    private Exception? _lastFailure;
    private Exception? _restartCause;

    private TimeSpan? _receiveTimeout;
    private long _lastActivity;
    private ITimer? _receiveTimeoutTimer;

    private void HandleSystem(SystemMessage message)
    {
        switch (message)
        {
            case Create: CreateInstance(); break;
            case Terminate: BeginTerminate(); break;
            case Recreate recreate: Recreate(recreate.Cause); break;
            case Resume: ResumeAfterFailure(); break;
            case Failed failed: HandleChildFailure(failed); break;
            case Watch watch: (_watchedBy ??= new HashSet<InternalActorRef>()).Add(watch.Watcher); break;
            case Unwatch unwatch: _watchedBy?.Remove(unwatch.Watcher); break;
            case DeathWatchNotification death: WatchedActorTerminated(death.Actor); break;
            case ChildTerminated child: HandleChildTerminated(child.Child); break;
        }
    }

    /// <summary>A system message for a cell that is already dead: answer watches at once, ignore the rest.</summary>
    private void HandleAfterDeath(SystemMessage message)
    {
        switch (message)
        {
            case Watch watch: watch.Watcher.SendSystem(new DeathWatchNotification(_self)); break;
            case Failed failed: failed.Child.SendSystem(Terminate.Instance); break;
        }
    }

    // ===== creation and failure =====

    private void CreateInstance()
    {
        try
        {
            _actor = NewInstance();
            _actor.InvokePreStart();
        }
        catch (Exception ex)
        {
            Fail(new ActorInitializationException($"{Path}: {ex.GetType().Name} in constructor or PreStart: {ex.Message}", ex));
        }
    }

    /// <summary>The instance threw: suspend the mailbox and ask the parent what to do.</summary>
    private void Fail(Exception cause)
    {
        if (_terminating)
        {
            ActorLog.FailedWhileStopping(_system.Logger, Path, cause.GetType().Name, cause.Message, cause);
            return;
        }
        _suspended = true;
        if (_awaitingDirective)
        {
            ActorLog.FailedWhileSuspended(_system.Logger, Path, cause.GetType().Name, cause.Message, cause);
            return;
        }
        _awaitingDirective = true;
        _failedMessage = _current.Message;
        _lastFailure = cause;
        _parent.SendSystem(new Failed(_self, cause));
    }

    private void HandleChildFailure(Failed failed)
    {
        if (_terminating || !IsLiveChild(failed.Child)) return; // the child is being stopped anyway
        SupervisorStrategy strategy;
        try
        {
            strategy = _actor?.InvokeSupervisorStrategy() ?? Props.SupervisorStrategy ?? SupervisorStrategy.Default;
        }
        catch (Exception ex)
        {
            ActorLog.StrategyFailed(_system.Logger, Path, ex.GetType().Name, ex.Message, ex);
            strategy = SupervisorStrategy.Default;
        }
        _childStats ??= new Dictionary<InternalActorRef, ChildRestartStats>();
        if (!_childStats.TryGetValue(failed.Child, out var stats)) _childStats[failed.Child] = stats = new ChildRestartStats();
        Directive directive;
        try
        {
            directive = strategy.Handle(failed.Cause, stats, _system.TimeProvider.GetUtcNow());
        }
        catch (Exception ex)
        {
            ActorLog.StrategyFailed(_system.Logger, Path, ex.GetType().Name, ex.Message, ex);
            directive = Directive.Escalate;
        }
        if (strategy.LoggingEnabled)
            ActorLog.ChildFailed(_system.Logger, failed.Child.Path, failed.Cause.GetType().Name, failed.Cause.Message, Path, directive, failed.Cause);
        switch (directive)
        {
            case Directive.Resume:
                failed.Child.SendSystem(Resume.Instance);
                break;
            case Directive.Restart:
                failed.Child.SendSystem(new Recreate(failed.Cause));
                break;
            case Directive.Stop:
                (_stoppingChildren ??= new HashSet<InternalActorRef>()).Add(failed.Child);
                failed.Child.SendSystem(Terminate.Instance);
                break;
            case Directive.Escalate:
                _escalatedChild = failed.Child;
                Fail(failed.Cause);
                break;
        }
    }

    private void ResumeAfterFailure()
    {
        if (_terminating) return;
        if (_actor is null)
        {
            Recreate(_lastFailure ?? new InvalidOperationException("resumed before the instance was created"));
            return;
        }
        _awaitingDirective = false;
        _suspended = false;
        _failedMessage = null;
        if (_escalatedChild is { } child)
        {
            _escalatedChild = null;
            child.SendSystem(Resume.Instance);
        }
    }

    private void Recreate(Exception cause)
    {
        if (_terminating) return;
        _suspended = true;
        if (_actor is not null)
        {
            try
            {
                _actor.InvokePreRestart(cause, _failedMessage);
            }
            catch (Exception ex)
            {
                ActorLog.HookFailed(_system.Logger, Path, "PreRestart", ex.GetType().Name, ex.Message, ex);
            }
        }
        CancelTimers();
        UnstashAll(); // stashed messages go back in front of the mailbox
        _failedMessage = null;
        _escalatedChild = null;
        _restartCause = cause;
        if (_stoppingChildren is { Count: > 0 }) return; // FinishRecreate runs when the last one has stopped
        FinishRecreate();
    }

    private void FinishRecreate()
    {
        var cause = _restartCause!;
        _restartCause = null;
        _awaitingDirective = false;
        try
        {
            _actor = NewInstance();
            _suspended = false;
            _actor.InvokePostRestart(cause);
        }
        catch (Exception ex)
        {
            Fail(new ActorInitializationException($"{Path}: {ex.GetType().Name} while restarting: {ex.Message}", ex));
        }
    }

    // ===== stopping =====

    private void BeginTerminate()
    {
        if (_terminating) return;
        _terminating = true;
        CancelTimers();
        var children = SnapshotChildren();
        if (children.Length == 0)
        {
            FinishTerminate();
            return;
        }
        _stoppingChildren ??= new HashSet<InternalActorRef>();
        foreach (var child in children)
        {
            _stoppingChildren.Add(child);
            child.SendSystem(Terminate.Instance);
        }
    }

    private void HandleChildTerminated(InternalActorRef child)
    {
        if (child is LocalActorRef local)
        {
            lock (_children)
            {
                if (_children.TryGetValue(local.Name, out var current) && ReferenceEquals(current, local)) _children.Remove(local.Name);
            }
        }
        _childStats?.Remove(child);
        _stoppingChildren?.Remove(child);
        if (ReferenceEquals(_escalatedChild, child)) _escalatedChild = null;
        if (_terminating)
        {
            if (ChildCount == 0) FinishTerminate();
        }
        else if (_restartCause is not null && _stoppingChildren is not { Count: > 0 })
        {
            FinishRecreate();
        }
    }

    private void FinishTerminate()
    {
        if (_actor is not null)
        {
            try
            {
                _actor.InvokePostStop();
            }
            catch (Exception ex)
            {
                ActorLog.HookFailed(_system.Logger, Path, "PostStop", ex.GetType().Name, ex.Message, ex);
            }
        }
        lock (_sysLock) _terminated = true;
        MailboxMetrics.Remove(this);
        _writer.TryComplete();

        var drained = 0;
        while (_reader.TryRead(out var envelope))
        {
            Interlocked.Decrement(ref _queued);
            drained++;
            DeadLetterFromMailbox(envelope);
        }
        if (_unstashed is not null)
        {
            while (_unstashed.TryDequeue(out var envelope))
            {
                drained++;
                DeadLetterFromMailbox(envelope);
            }
        }
        if (_stash is not null)
        {
            foreach (var envelope in _stash) DeadLetterFromMailbox(envelope);
            _stash.Clear();
        }
        _system.RemovePending(drained);
        while (_sysReader.TryRead(out var message))
        {
            _system.RemovePending(1);
            HandleAfterDeath(message);
        }

        // Parent first: it frees the name before a Terminated reaches it as a watcher.
        _parent.SendSystem(new ChildTerminated(_self));
        if (_watchedBy is not null)
        {
            foreach (var watcher in _watchedBy) watcher.SendSystem(new DeathWatchNotification(_self));
            _watchedBy = null;
        }
        if (_watching is not null)
        {
            foreach (var watched in _watching)
            {
                if (watched is InternalActorRef target) target.SendSystem(new Unwatch(target, _self));
            }
            _watching = null;
        }
        _actor = null;
        _behaviors.Clear();
        _current = default;
    }

    // ===== death watch =====

    public IActorRef Watch(IActorRef subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        if (ReferenceEquals(subject, _self)) return subject;
        if (subject is not InternalActorRef target)
            throw new NotSupportedException($"cannot watch {subject.Path}: it is a {subject.GetType().Name}, not a ref created by an ActorSystem");
        if ((_watching ??= new HashSet<IActorRef>()).Add(subject)) target.SendSystem(new Watch(target, _self));
        return subject;
    }

    public IActorRef Unwatch(IActorRef subject)
    {
        ArgumentNullException.ThrowIfNull(subject);
        _pendingTerminated?.Remove(subject);
        if (_watching is not null && _watching.Remove(subject) && subject is InternalActorRef target)
            target.SendSystem(new Unwatch(target, _self));
        return subject;
    }

    private void WatchedActorTerminated(InternalActorRef actor)
    {
        if (_watching is null || !_watching.Remove(actor)) return; // unwatched, or a duplicate notification
        (_pendingTerminated ??= new HashSet<IActorRef>()).Add(actor);
        SendUser(new Envelope(new WatchedTerminated(new Terminated(actor)), actor));
    }

    // ===== timers and receive timeout =====

    public void SetReceiveTimeout(TimeSpan? timeout)
    {
        _receiveTimeoutTimer?.Dispose();
        _receiveTimeoutTimer = null;
        _receiveTimeout = timeout;
        if (timeout is not { } t) return;
        if (t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), t, "receive timeout must be positive, or null to turn it off");
        _lastActivity = _system.TimeProvider.GetTimestamp();
        _receiveTimeoutTimer = _system.TimeProvider.CreateTimer(
            static state => ((LocalActorRef)state!).Post(new Envelope(ReceiveTimeoutSignal.Instance)), _self, t, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True when the actor has been idle for the whole timeout; otherwise re-arms for the remainder.</summary>
    private bool ReceiveTimeoutDue()
    {
        if (_receiveTimeout is not { } timeout || _receiveTimeoutTimer is null) return false;
        var idle = _system.TimeProvider.GetElapsedTime(_lastActivity);
        if (idle >= timeout)
        {
            _lastActivity = _system.TimeProvider.GetTimestamp();
            _receiveTimeoutTimer.Change(timeout, Timeout.InfiniteTimeSpan);
            return true;
        }
        _receiveTimeoutTimer.Change(timeout - idle, Timeout.InfiniteTimeSpan);
        return false;
    }

    private void CancelTimers()
    {
        _timers?.CancelAll();
        _receiveTimeoutTimer?.Dispose();
        _receiveTimeoutTimer = null;
        _receiveTimeout = null;
    }
}
