using Offload.Actors.Tests.TestKit;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class DeathWatchTests
{
    private sealed class Idle : ReceiveActor
    {
        public Idle() => ReceiveAny(_ => { });
    }

    [Fact]
    public void Terminated_is_delivered_once_even_when_watched_twice()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create<Idle>(), "idle-once");
        probe.Watch(actor);
        probe.Watch(actor);
        kit.System.Stop(actor);
        probe.ExpectTerminated(actor);
        probe.ExpectNoMsg();
    }

    [Fact]
    public void Watching_a_dead_actor_delivers_Terminated_at_once()
    {
        using var kit = new ActorTestKit();
        var first = kit.CreateTestProbe();
        var late = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create<Idle>(), "idle-dead");
        first.Watch(actor);
        actor.Tell(PoisonPill.Instance);
        first.ExpectTerminated(actor);
        late.Watch(actor);
        late.ExpectTerminated(actor);
        late.ExpectNoMsg();
    }

    [Fact]
    public void Unwatch_suppresses_Terminated()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create<Idle>(), "idle-unwatch");
        probe.Watch(actor);
        probe.Unwatch(actor);
        kit.System.Stop(actor);
        probe.ExpectNoMsg();
    }

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(IActorRef subject, IActorRef probe, bool handleTerminated)
        {
            Context.Watch(subject);
            if (handleTerminated) Receive<Terminated>(t => probe.Tell($"saw {t.ActorRef.Path}"));
        }
    }

    [Fact]
    public void An_actor_receives_Terminated_of_what_it_watches()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var subject = kit.System.ActorOf(Props.Create<Idle>(), "subject-handled");
        kit.System.ActorOf(Props.Create(() => new Watcher(subject, probe.Ref, true)), "watcher-handled");
        kit.Settle();
        kit.System.Stop(subject);
        probe.ExpectMsg($"saw {subject.Path}");
    }

    [Fact]
    public void An_unhandled_Terminated_is_a_death_pact_that_stops_the_watcher()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var subject = kit.System.ActorOf(Props.Create<Idle>(), "subject-pact");
        var watcher = kit.System.ActorOf(Props.Create(() => new Watcher(subject, probe.Ref, false)), "watcher-pact");
        probe.Watch(watcher);
        kit.Settle();
        kit.System.Stop(subject);
        probe.ExpectTerminated(watcher);
        Assert.Contains(kit.Logs.Entries, e => e.EventId.Id == 1001 && e.Message.Contains("DeathPactException") && e.Message.Contains("decided Stop"));
    }

    private sealed class Reporter(IActorRef probe, string name) : ReceiveActor
    {
        protected override void PostStop() => probe.Tell($"stopped {name}");
    }

    private sealed class Spawner : ReceiveActor
    {
        private readonly IActorRef _probe;

        public Spawner(IActorRef probe)
        {
            _probe = probe;
            Context.ActorOf(Props.Create(() => new Reporter(probe, "a")), "a");
            Context.ActorOf(Props.Create(() => new Reporter(probe, "b")), "b");
        }

        protected override void PostStop() => _probe.Tell("stopped parent");
    }

    [Fact]
    public void Stopping_a_parent_stops_its_children_first()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var parent = kit.System.ActorOf(Props.Create(() => new Spawner(probe.Ref)), "spawner");
        probe.Watch(parent);
        kit.System.Stop(parent);
        var children = probe.ReceiveN(2);
        Assert.Equal(new HashSet<object> { "stopped a", "stopped b" }, children.ToHashSet());
        probe.ExpectMsg("stopped parent");
        probe.ExpectTerminated(parent);
    }
}
