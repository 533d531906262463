using System.Diagnostics;
using Offload.Protocol.Telemetry;

namespace Offload.Actors.Internal;

internal sealed partial class ActorCell
{
    private static readonly ValueTask<bool> Handled = new(true);

    private int _scheduled;
    private volatile bool _terminated;
    private volatile bool _terminating;
    private bool _suspended;
    private bool _skipActivity;
    private int _queued; // user messages in the channel (its single-reader flavour cannot count)

    // ===== sending =====

    internal void SendUser(Envelope envelope)
    {
        _system.AddPending(1);
        Interlocked.Increment(ref _queued);
        if (!_writer.TryWrite(envelope))
        {
            Interlocked.Decrement(ref _queued);
            _system.RemovePending(1);
            DeadLetterFromMailbox(envelope);
            return;
        }
        Schedule();
    }

    internal void SendSystem(SystemMessage message)
    {
        bool queued;
        lock (_sysLock)
        {
            queued = !_terminated;
            if (queued)
            {
                _system.AddPending(1);
                _sysWriter.TryWrite(message);
            }
        }
        if (queued) Schedule();
        else HandleAfterDeath(message);
    }

    private void Schedule()
    {
        if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    // ===== the run: system messages first, then up to Throughput user messages =====

    void IThreadPoolWorkItem.Execute() => Run();

    private void Run()
    {
        var budget = _system.Throughput;
        var done = 0;
        var yielded = false;
        while (true)
        {
            done += DrainSystem();
            if (_terminated)
            {
                // A dead cell keeps _scheduled = 1 so it is never run again.
                _system.RemovePending(done);
                return;
            }
            if (_suspended || _terminating) break;
            if (budget-- == 0)
            {
                yielded = true;
                break;
            }
            if (!TryDequeue(out var envelope)) break;
            var pending = Invoke(envelope);
            if (!pending.IsCompletedSuccessfully)
            {
                // An async handler is still running: the next message waits for it.
                _system.RemovePending(done);
                _ = ContinueAfter(pending);
                return;
            }
            done++;
        }
        _system.RemovePending(done);
        Interlocked.Exchange(ref _scheduled, 0);
        if (yielded || HasWork()) Schedule();
    }

    private async Task ContinueAfter(ValueTask pending)
    {
        await pending.ConfigureAwait(false); // never faults: Invoke routes every exception to supervision
        _system.RemovePending(1);
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false); // still scheduled: continue on the pool
    }

    private int DrainSystem()
    {
        var n = 0;
        while (!_terminated && _sysReader.TryRead(out var message))
        {
            n++;
            HandleSystem(message);
        }
        return n;
    }

    private bool TryDequeue(out Envelope envelope)
    {
        if (_unstashed is { Count: > 0 })
        {
            envelope = _unstashed.Dequeue();
            return true;
        }
        if (!_reader.TryRead(out envelope)) return false;
        Interlocked.Decrement(ref _queued);
        return true;
    }

    private bool HasWork()
    {
        if (_sysReader.TryPeek(out _)) return true;
        if (_suspended || _terminating || _terminated) return false;
        return _unstashed is { Count: > 0 } || _reader.TryPeek(out _);
    }

    // ===== invoking the behaviour =====

    private ValueTask Invoke(Envelope envelope)
    {
        _current = envelope;
        var previous = Activity.Current;
        var span = StartMessageSpan(envelope);
        ValueTask<bool> pending;
        try
        {
            pending = Dispatch(envelope.Message);
            if (pending.IsCompletedSuccessfully)
            {
                if (!pending.Result) _actor!.InvokeUnhandled(_current.Message);
                EndMessageSpan(span, null);
                if (span is not null) Activity.Current = previous;
                AfterMessage();
                return default;
            }
        }
        catch (Exception ex)
        {
            EndMessageSpan(span, ex);
            if (span is not null) Activity.Current = previous;
            Fail(ex);
            AfterMessage();
            return default;
        }
        var awaiting = AwaitInvocation(pending, span);
        // The handler's continuations keep the span current (it flowed into them); this thread goes back to what it was.
        if (span is not null) Activity.Current = previous;
        return awaiting;
    }

    private async ValueTask AwaitInvocation(ValueTask<bool> pending, Activity? span)
    {
        Exception? failure = null;
        try
        {
            if (!await pending.ConfigureAwait(false)) _actor!.InvokeUnhandled(_current.Message);
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        EndMessageSpan(span, failure);
        if (failure is not null) Fail(failure);
        AfterMessage();
    }

    /// <summary>
    /// The span of one message (<see cref="OffloadTelemetry.ActorMessageSpan"/>), a child of the sender's trace context,
    /// made current for the handler; null when the envelope carries no context or nobody listens.
    /// </summary>
    private Activity? StartMessageSpan(in Envelope envelope)
    {
        if (!OffloadTelemetry.Source.HasListeners() || envelope.TraceContext == default) return null;
        var span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.ActorMessageSpan, ActivityKind.Internal, envelope.TraceContext);
        if (span is null) return null;
        span.SetTag(OffloadTelemetry.AttrActorType, Props.ActorType.Name);
        span.SetTag(OffloadTelemetry.AttrMessageType, envelope.Message.GetType().Name);
        return span;
    }

    private static void EndMessageSpan(Activity? span, Exception? failure)
    {
        if (span is null) return;
        if (failure is not null) span.SetStatus(ActivityStatusCode.Error, $"{failure.GetType().Name}: {failure.Message}");
        span.Stop();
    }

    private ValueTask<bool> Dispatch(object message)
    {
        switch (message)
        {
            case TimerMessage timer:
                if (_timers is null || !_timers.Accept(timer)) return Handled; // cancelled or replaced: drop
                message = timer.Message;
                _current = _current with { Message = message };
                break;
            case WatchedTerminated watched:
                if (_pendingTerminated is null || !_pendingTerminated.Remove(watched.Terminated.ActorRef)) return Handled; // unwatched meanwhile
                message = watched.Terminated;
                _current = _current with { Message = message };
                break;
            case ReceiveTimeoutSignal:
                _skipActivity = true;
                if (!ReceiveTimeoutDue()) return Handled;
                message = ReceiveTimeout.Instance;
                _current = _current with { Message = message };
                break;
            case PoisonPill:
                SendSystem(Terminate.Instance);
                return Handled;
            case Kill:
                throw new ActorKilledException($"{Path} received Kill");
        }
        return _behaviors.Count == 0 ? _actor!.ReceiveEntry(message) : _behaviors[^1](message);
    }

    private void AfterMessage()
    {
        if (_receiveTimeout is not null && !_skipActivity) _lastActivity = _system.TimeProvider.GetTimestamp();
        _skipActivity = false;
        _current = default;
    }

    // ===== dead letters from a mailbox =====

    private void DeadLetterFromMailbox(Envelope envelope)
    {
        switch (envelope.Message)
        {
            case TimerMessage or ReceiveTimeoutSignal or WatchedTerminated:
                return; // internal signals of a stopped actor mean nothing to anyone
            default:
                _system.PublishDeadLetter(envelope.Message, envelope.Sender, _self, $"recipient {Path} is stopped");
                return;
        }
    }
}
