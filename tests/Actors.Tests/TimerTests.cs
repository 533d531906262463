using Offload.Actors.Tests.TestKit;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class TimerTests
{
    private sealed record StartSingle(string Key, string Message, TimeSpan Delay);

    private sealed record StartPeriodic(string Key, string Message, TimeSpan Interval);

    private sealed record CancelTimer(string Key);

    private sealed record SetIdle(TimeSpan? Timeout);

    private sealed record Ping;

    /// <summary>Starts and cancels timers on request and forwards every timer message (and ReceiveTimeout) to the probe.</summary>
    private sealed class Clocked : ReceiveActor
    {
        public Clocked(IActorRef probe)
        {
            Receive<StartSingle>(s => Timers.StartSingleTimer(s.Key, s.Message, s.Delay));
            Receive<StartPeriodic>(s => Timers.StartPeriodicTimer(s.Key, s.Message, s.Interval));
            Receive<CancelTimer>(c => Timers.Cancel(c.Key));
            Receive<SetIdle>(s => Context.SetReceiveTimeout(s.Timeout));
            Receive<Ping>(_ => { });
            Receive<ReceiveTimeout>(_ => probe.Tell("idle"));
            Receive<string>(s => probe.Tell(s));
        }
    }

    [Fact]
    public void A_single_timer_fires_exactly_at_its_delay()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create(() => new Clocked(probe.Ref)), "clocked-single");
        actor.Tell(new StartSingle("k", "tick", TimeSpan.FromSeconds(1)));
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(999));
        kit.Advance(TimeSpan.FromMilliseconds(1));
        probe.ExpectMsg("tick");
        probe.ExpectNoMsg(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_cancelled_or_replaced_timer_delivers_nothing()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create(() => new Clocked(probe.Ref)), "clocked-cancel");
        actor.Tell(new StartSingle("a", "a-fired", TimeSpan.FromSeconds(1)));
        actor.Tell(new StartSingle("b", "b-first", TimeSpan.FromSeconds(1)));
        actor.Tell(new CancelTimer("a"));
        actor.Tell(new StartSingle("b", "b-second", TimeSpan.FromSeconds(2)));
        kit.Advance(TimeSpan.FromSeconds(2));
        probe.ExpectMsg("b-second");
        probe.ExpectNoMsg(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_periodic_timer_fires_once_per_interval()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create(() => new Clocked(probe.Ref)), "clocked-periodic");
        actor.Tell(new StartPeriodic("p", "beat", TimeSpan.FromSeconds(2)));
        kit.Advance(TimeSpan.FromSeconds(7)); // beats at 2, 4, 6
        Assert.Equal(new object[] { "beat", "beat", "beat" }, probe.ReceiveN(3));
        probe.ExpectNoMsg();
        actor.Tell(new CancelTimer("p"));
        probe.ExpectNoMsg(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Receive_timeout_fires_after_the_idle_span_and_each_message_restarts_it()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create(() => new Clocked(probe.Ref)), "clocked-idle");
        actor.Tell(new SetIdle(TimeSpan.FromSeconds(10)));
        probe.ExpectNoMsg(TimeSpan.FromSeconds(9));
        actor.Tell(new Ping()); // activity at t = 9 s: the timeout now falls at 19 s
        probe.ExpectNoMsg(TimeSpan.FromSeconds(9.5));
        kit.Advance(TimeSpan.FromSeconds(0.5));
        probe.ExpectMsg("idle");
        actor.Tell(new SetIdle(null));
        probe.ExpectNoMsg(TimeSpan.FromSeconds(60));
    }

    [Fact]
    public void Timers_stop_with_the_actor()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var actor = kit.System.ActorOf(Props.Create(() => new Clocked(probe.Ref)), "clocked-stop");
        actor.Tell(new StartPeriodic("p", "beat", TimeSpan.FromSeconds(1)));
        kit.Settle();
        Assert.Equal(1, kit.Clock.ArmedTimers);
        kit.System.Stop(actor);
        probe.ExpectNoMsg(TimeSpan.FromSeconds(5));
        Assert.Equal(0, kit.Clock.ArmedTimers);
    }

    [Fact]
    public void ScheduleTellOnce_delivers_after_the_delay_unless_disposed()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        kit.System.ScheduleTellOnce(TimeSpan.FromSeconds(3), probe.Ref, "later");
        var cancelled = kit.System.ScheduleTellOnce(TimeSpan.FromSeconds(3), probe.Ref, "never");
        cancelled.Dispose();
        probe.ExpectNoMsg(TimeSpan.FromSeconds(2.5));
        kit.Advance(TimeSpan.FromSeconds(0.5));
        probe.ExpectMsg("later");
        probe.ExpectNoMsg(TimeSpan.FromSeconds(5));
    }
}
