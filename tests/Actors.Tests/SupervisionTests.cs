using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Offload.Actors.Tests.TestKit;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class SupervisionTests
{
    private sealed record Got(int Value, int Instance);

    /// <summary>Waits on a gate while handling message 1 (so 2..n are queued), throws on message k.</summary>
    private sealed class FailsOnK : ReceiveActor
    {
        private readonly IActorRef _probe;
        private readonly int _instance;

        public FailsOnK(IActorRef probe, Task gate, int k, int instance)
        {
            _probe = probe;
            _instance = instance;
            ReceiveAsync<int>(async i =>
            {
                if (i == 1) await gate;
                if (i == k) throw new InvalidOperationException($"boom at {k}");
                probe.Tell(new Got(i, instance));
            });
        }

        protected override void PostRestart(Exception reason) => _probe.Tell($"restarted as {_instance} after {reason.Message}");
    }

    [Fact]
    public void Restart_keeps_the_mailbox_and_drops_only_the_failing_message()
    {
        const int n = 10, k = 4;
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var instances = new StrongBox<int>();
        var actor = kit.System.ActorOf(Props.Create(() => new FailsOnK(probe.Ref, gate.Task, k, ++instances.Value)), "fails-on-k");
        for (var i = 1; i <= n; i++) actor.Tell(i);
        gate.SetResult(); // messages 2..n are now queued behind message 1

        for (var i = 1; i < k; i++) probe.ExpectMsg(new Got(i, 1));
        probe.ExpectMsg($"restarted as 2 after boom at {k}");
        for (var i = k + 1; i <= n; i++) probe.ExpectMsg(new Got(i, 2));
        probe.ExpectNoMsg();

        var failure = Assert.Single(kit.Logs.Entries, e => e.EventId.Id == 1001);
        Assert.Equal(LogLevel.Error, failure.Level);
        Assert.Contains("boom at 4", failure.Message);
        Assert.Contains("decided Restart", failure.Message);
        Assert.Contains(actor.Path, failure.Message);
    }

    private sealed record SpawnChild(Props Props, string Name);

    /// <summary>Creates children on request and answers with their ref; supervises them with the given decider.</summary>
    private sealed class Parent : ReceiveActor
    {
        private readonly Func<Exception, Directive> _decider;

        public Parent(Func<Exception, Directive> decider)
        {
            _decider = decider;
            Receive<SpawnChild>(s => Sender.Tell(Context.ActorOf(s.Props, s.Name)));
        }

        protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_decider);
    }

    /// <summary>Counts "inc", reports the count on "get", throws on "fail".</summary>
    private sealed class Counter : ReceiveActor
    {
        public Counter()
        {
            var count = 0;
            Receive<string>(s => s == "inc", _ => count++);
            Receive<string>(s => s == "get", _ => Sender.Tell(count));
            Receive<string>(s => s == "fail", _ => throw new ArithmeticException("counter failed"));
        }
    }

    private static IActorRef Spawn(TestProbe probe, IActorRef parent, Props props, string name)
    {
        probe.Send(parent, new SpawnChild(props, name));
        return probe.ExpectMsg<IActorRef>();
    }

    [Fact]
    public void Resume_keeps_the_state_and_drops_the_failing_message()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var parent = kit.System.ActorOf(Props.Create(() => new Parent(_ => Directive.Resume)), "parent-resume");
        var child = Spawn(probe, parent, Props.Create<Counter>(), "counter");
        child.Tell("inc");
        child.Tell("inc");
        child.Tell("fail");
        child.Tell("inc");
        probe.Send(child, "get");
        probe.ExpectMsg(3);
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1001 && e.Message.Contains("counter failed") && e.Message.Contains("decided Resume"));
    }

    [Fact]
    public void Restart_resets_the_state()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var parent = kit.System.ActorOf(Props.Create(() => new Parent(_ => Directive.Restart)), "parent-restart");
        var child = Spawn(probe, parent, Props.Create<Counter>(), "counter");
        child.Tell("inc");
        child.Tell("fail");
        child.Tell("inc");
        probe.Send(child, "get");
        probe.ExpectMsg(1);
    }

    [Fact]
    public void Stop_directive_stops_the_child_and_later_messages_become_dead_letters()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var letters = kit.CreateTestProbe();
        kit.System.EventStream.Subscribe<DeadLetter>(letters.Ref);
        var parent = kit.System.ActorOf(Props.Create(() => new Parent(_ => Directive.Stop)), "parent-stop");
        var child = Spawn(probe, parent, Props.Create<Counter>(), "counter");
        probe.Watch(child);
        child.Tell("fail");
        probe.ExpectTerminated(child);
        child.Tell("inc");
        var letter = letters.ExpectMsg<DeadLetter>();
        Assert.Equal("inc", letter.Message);
        Assert.Same(child, letter.Recipient);
        Assert.Contains("stopped", letter.Reason);
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1001 && e.Message.Contains("decided Stop"));
    }

    [Fact]
    public void Escalate_hands_the_failure_to_the_grandparents_strategy()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var seen = kit.CreateTestProbe();
        var grandparent = kit.System.ActorOf(Props.Create(() => new Parent(ex =>
        {
            seen.Ref.Tell(ex.Message);
            return Directive.Stop;
        })), "grandparent-escalate");
        var parent = Spawn(probe, grandparent, Props.Create(() => new Parent(_ => Directive.Escalate)), "parent");
        var child = Spawn(probe, parent, Props.Create<Counter>(), "counter");
        probe.Watch(parent);
        probe.Watch(child);
        child.Tell("fail");
        seen.ExpectMsg("counter failed"); // the grandparent decided on the child's own exception
        var stopped = probe.ReceiveN(2).Cast<Terminated>().Select(t => t.ActorRef).ToHashSet();
        Assert.Equal(new HashSet<IActorRef> { parent, child }, stopped);
        seen.ExpectNoMsg();
        var lines = kit.Logs.Entries.Where(e => e.EventId.Id == 1001).Select(e => e.Message).ToList();
        Assert.Contains(lines, l => l.Contains(child.Path) && l.Contains("decided Escalate"));
        Assert.Contains(lines, l => l.Contains(parent.Path) && l.Contains("decided Stop"));
    }

    [Fact]
    public void Kill_fails_the_actor_and_the_default_strategy_stops_it()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create<Counter>(), "killed");
        probe.Watch(actor);
        actor.Tell(Kill.Instance);
        probe.ExpectTerminated(actor);
        var line = Assert.Single(kit.Logs.Entries, e => e.EventId.Id == 1001);
        Assert.Contains("ActorKilledException", line.Message);
        Assert.Contains("decided Stop", line.Message);
    }

    private sealed class FailsInConstructor : ReceiveActor
    {
        public FailsInConstructor() => throw new FormatException("bad config");
    }

    [Fact]
    public void An_actor_that_fails_to_start_is_stopped_by_the_default_strategy()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create(() => new FailsInConstructor()), "fails-in-ctor");
        probe.Watch(actor);
        probe.ExpectTerminated(actor);
        var line = Assert.Single(kit.Logs.Entries, e => e.EventId.Id == 1001);
        Assert.Contains("ActorInitializationException", line.Message);
        Assert.Contains("bad config", line.Message);
        Assert.Contains("decided Stop", line.Message);
    }

    [Fact]
    public void Restarts_beyond_the_retry_limit_stop_the_child()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var parent = kit.System.ActorOf(Props.Create(() => new LimitedParent())
            .WithSupervisorStrategy(new OneForOneStrategy(2, TimeSpan.FromMinutes(1), _ => Directive.Restart)), "parent-limited");
        var child = Spawn(probe, parent, Props.Create<Counter>(), "counter");
        probe.Watch(child);
        child.Tell("fail");
        child.Tell("fail");
        probe.Send(child, "get");
        probe.ExpectMsg(0); // two restarts allowed
        child.Tell("fail");
        probe.ExpectTerminated(child);
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1001 && e.Message.Contains("decided Stop"));
    }

    /// <summary>Strategy given through Props: restart at most twice per minute.</summary>
    private sealed class LimitedParent : ReceiveActor
    {
        public LimitedParent() => Receive<SpawnChild>(s => Sender.Tell(Context.ActorOf(s.Props, s.Name)));
    }

    /// <summary>Creates a child with a fixed name in PreStart: a restart must wait for the old child to stop.</summary>
    private sealed class RestartsWithChild : ReceiveActor
    {
        private readonly IActorRef _probe;

        public RestartsWithChild(IActorRef probe)
        {
            Receive<string>(s => s == "fail", _ => throw new InvalidOperationException("parent failed"));
            Receive<string>(s => s == "child", _ => Sender.Tell(Context.Child("worker")!));
            _probe = probe;
        }

        protected override void PreStart()
        {
            Context.ActorOf(Props.Create<Counter>(), "worker");
            _probe.Tell("started");
        }
    }

    [Fact]
    public void Restart_stops_the_old_children_before_the_new_instance_starts()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create(() => new RestartsWithChild(probe.Ref)), "restarts-with-child");
        probe.ExpectMsg("started");
        probe.Send(actor, "child");
        var firstChild = probe.ExpectMsg<IActorRef>();
        probe.Watch(firstChild);
        actor.Tell("fail");
        // The old child's Terminated and the new instance's "started" come from different actors: any order.
        var both = probe.ReceiveN(2);
        Assert.Contains(both, m => m is Terminated t && ReferenceEquals(t.ActorRef, firstChild));
        Assert.Contains("started", both);
        probe.Send(actor, "child");
        var secondChild = probe.ExpectMsg<IActorRef>();
        Assert.NotSame(firstChild, secondChild);
        Assert.Equal(firstChild.Path, secondChild.Path);
        Assert.DoesNotContain(kit.Logs.Entries, e => e.Message.Contains("ActorInitializationException"));
    }
}
