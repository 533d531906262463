using System.Diagnostics;
using Offload.Actors.Tests.TestKit;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class BehaviorTests
{
    private sealed record Open;

    private sealed record Close;

    /// <summary>Stashes work while closed; opening replays it in arrival order.</summary>
    private sealed class Door : ReceiveActor
    {
        private readonly IActorRef _probe;

        public Door(IActorRef probe)
        {
            _probe = probe;
            Closed();
        }

        private void Closed()
        {
            Receive<Open>(_ =>
            {
                Become(Opened);
                Context.UnstashAll();
            });
            Receive<int>(_ => Context.Stash());
        }

        private void Opened()
        {
            Receive<Close>(_ => Become(Closed));
            Receive<int>(i => _probe.Tell(i));
        }
    }

    [Fact]
    public void Stashed_messages_replay_in_order_after_Become()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var door = kit.System.ActorOf(Props.Create(() => new Door(probe.Ref)), "door");
        door.Tell(1);
        door.Tell(2);
        door.Tell(3);
        probe.ExpectNoMsg();
        door.Tell(new Open());
        door.Tell(4);
        Assert.Equal(new object[] { 1, 2, 3, 4 }, probe.ReceiveN(4));
        door.Tell(new Close());
        door.Tell(5);
        probe.ExpectNoMsg();
        door.Tell(new Open());
        probe.ExpectMsg(5);
    }

    /// <summary>A stacked behaviour that answers differently until unbecome.</summary>
    private sealed class Moody : ReceiveActor
    {
        public Moody()
        {
            Receive<string>(s => s == "grumpy", _ => BecomeStacked(() =>
            {
                Receive<string>(s => s == "calm", _ => UnbecomeStacked());
                Receive<string>(_ => Sender.Tell("no"));
            }));
            Receive<string>(_ => Sender.Tell("yes"));
        }
    }

    [Fact]
    public void BecomeStacked_and_UnbecomeStacked_switch_behaviour()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var moody = kit.System.ActorOf(Props.Create<Moody>(), "moody");
        probe.Send(moody, "q");
        probe.ExpectMsg("yes");
        moody.Tell("grumpy");
        probe.Send(moody, "q");
        probe.ExpectMsg("no");
        moody.Tell("calm");
        probe.Send(moody, "q");
        probe.ExpectMsg("yes");
    }

    private sealed class Middle : ReceiveActor
    {
        public Middle(IActorRef next) => ReceiveAny(m => Context.Forward(next, m));
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(m => Sender.Tell($"{m} via {Context.TraceParent ?? "no trace"}", Self));
    }

    [Fact]
    public void Forward_keeps_the_original_sender_and_trace_context()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var echo = kit.System.ActorOf(Props.Create<Echo>(), "echo");
        var middle = kit.System.ActorOf(Props.Create(() => new Middle(echo)), "middle");
        using var activity = new Activity("test-send").SetIdFormat(ActivityIdFormat.W3C).Start();
        probe.Send(middle, "hello");
        var reply = probe.ExpectMsg<string>();
        Assert.Equal($"hello via {activity.Id}", reply);
        Assert.Same(echo, probe.LastSender);
        Assert.StartsWith("00-", activity.Id); // a W3C traceparent
    }
}
