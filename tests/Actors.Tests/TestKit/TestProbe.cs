using System.Collections.Concurrent;
using Xunit;

namespace Offload.Actors.Tests.TestKit;

/// <summary>
/// An actor that queues every message it receives, so a test can assert on them.
/// <see cref="ExpectMsg{T}"/> blocks on that queue with a real-time safety timeout (a bound, not a sleep).
/// <see cref="ExpectNoMsg()"/> is deterministic: it waits until the whole system is idle (nothing queued or running),
/// then checks the queue is empty; <see cref="ExpectNoMsg(TimeSpan)"/> first advances the manual clock by the span.
/// </summary>
public sealed class TestProbe
{
    private readonly ActorTestKit _kit;
    private readonly BlockingCollection<Envelope> _queue = new();

    internal TestProbe(ActorTestKit kit, string name)
    {
        _kit = kit;
        Name = name;
        Ref = kit.System.ActorOf(Props.Create(() => new ProbeActor(_queue)), name);
    }

    public string Name { get; }

    public IActorRef Ref { get; }

    /// <summary>Sender of the last message taken from the queue.</summary>
    public IActorRef? LastSender { get; private set; }

    /// <summary>Sends as the probe, so replies come back to it.</summary>
    public void Send(IActorRef target, object message) => target.Tell(message, Ref);

    public void Reply(object message)
    {
        Assert.NotNull(LastSender);
        LastSender!.Tell(message, Ref);
    }

    /// <summary>Death-watches <paramref name="target"/>; returns once the watch is registered. Its
    /// <see cref="Terminated"/> arrives in the queue.</summary>
    public void Watch(IActorRef target) => RunOnProbe(new ProbeActor.WatchCommand(target, new ManualResetEventSlim()));

    /// <summary>Stops watching; returns once no <see cref="Terminated"/> of the target can arrive any more.</summary>
    public void Unwatch(IActorRef target) => RunOnProbe(new ProbeActor.UnwatchCommand(target, new ManualResetEventSlim()));

    private void RunOnProbe(ProbeActor.Command command)
    {
        Ref.Tell(command);
        if (!command.Done.Wait(ActorTestKit.SafetyTimeout))
            throw new Xunit.Sdk.XunitException($"probe {Name}: {command.GetType().Name} was not processed within {ActorTestKit.SafetyTimeout.TotalSeconds} s");
    }

    public T ExpectMsg<T>(Func<T, bool>? where = null, string? what = null)
    {
        var message = Next($"a {typeof(T).Name}{(what is null ? "" : $" ({what})")}");
        if (message is not T typed)
            throw new Xunit.Sdk.XunitException($"probe {Name}: expected a {typeof(T).Name}{(what is null ? "" : $" ({what})")} but got {Describe(message)}");
        if (where is not null && !where(typed))
            throw new Xunit.Sdk.XunitException($"probe {Name}: got {Describe(message)} but it does not match {what ?? "the predicate"}");
        return typed;
    }

    public T ExpectMsg<T>(T expected) where T : notnull
    {
        var message = Next(Describe(expected));
        if (!Equals(message, expected))
            throw new Xunit.Sdk.XunitException($"probe {Name}: expected {Describe(expected)} but got {Describe(message)}");
        return (T)message;
    }

    public Terminated ExpectTerminated(IActorRef actor) =>
        ExpectMsg<Terminated>(t => ReferenceEquals(t.ActorRef, actor), $"Terminated of {actor.Path}");

    /// <summary>Takes <paramref name="count"/> messages in arrival order.</summary>
    public List<object> ReceiveN(int count)
    {
        var list = new List<object>(count);
        for (var i = 0; i < count; i++) list.Add(Next($"message {i + 1} of {count}"));
        return list;
    }

    /// <summary>Settles the system, then asserts nothing arrived.</summary>
    public void ExpectNoMsg()
    {
        _kit.Settle();
        AssertEmpty("after the system settled");
    }

    /// <summary>Advances the manual clock by <paramref name="within"/> (firing timers), then asserts nothing arrived.</summary>
    public void ExpectNoMsg(TimeSpan within)
    {
        _kit.Advance(within);
        AssertEmpty($"within {within.TotalSeconds} s of manual time");
    }

    private void AssertEmpty(string when)
    {
        if (_queue.TryTake(out var unexpected))
            throw new Xunit.Sdk.XunitException($"probe {Name}: expected no message {when} but got {Describe(unexpected.Message)}");
    }

    private object Next(string expected)
    {
        if (!_queue.TryTake(out var envelope, ActorTestKit.SafetyTimeout))
            throw new Xunit.Sdk.XunitException($"probe {Name}: expected {expected} within {ActorTestKit.SafetyTimeout.TotalSeconds} s but received nothing");
        LastSender = envelope.Sender;
        return envelope.Message;
    }

    private static string Describe(object? message) => message is null ? "null" : $"{message.GetType().Name} {message}";

    private sealed class ProbeActor(BlockingCollection<Envelope> queue) : ActorBase
    {
        public abstract record Command(ManualResetEventSlim Done);

        public sealed record WatchCommand(IActorRef Target, ManualResetEventSlim Done) : Command(Done);

        public sealed record UnwatchCommand(IActorRef Target, ManualResetEventSlim Done) : Command(Done);

        protected override bool Receive(object message)
        {
            switch (message)
            {
                case WatchCommand watch:
                    Context.Watch(watch.Target);
                    watch.Done.Set();
                    break;
                case UnwatchCommand unwatch:
                    Context.Unwatch(unwatch.Target);
                    unwatch.Done.Set();
                    break;
                default:
                    queue.Add(new Envelope(message, Context.Sender, Context.TraceContext));
                    break;
            }
            return true;
        }
    }
}
