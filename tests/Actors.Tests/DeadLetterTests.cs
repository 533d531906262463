using Microsoft.Extensions.Logging;
using Offload.Actors.Tests.TestKit;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class DeadLetterTests
{
    private sealed class OnlyInts : ReceiveActor
    {
        public OnlyInts(IActorRef probe) => Receive<int>(i => probe.Tell(i));
    }

    [Fact]
    public void A_message_to_a_stopped_actor_is_logged_and_published_with_the_reason()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var letters = kit.CreateTestProbe();
        kit.System.EventStream.Subscribe<DeadLetter>(letters.Ref);
        var actor = kit.System.ActorOf(Props.Create(() => new OnlyInts(probe.Ref)), "only-ints-stopped");
        probe.Watch(actor);
        kit.System.Stop(actor);
        probe.ExpectTerminated(actor);
        probe.Send(actor, 42);

        var letter = letters.ExpectMsg<DeadLetter>();
        Assert.Equal(42, letter.Message);
        Assert.Same(probe.Ref, letter.Sender);
        Assert.Same(actor, letter.Recipient);
        Assert.Equal($"recipient {actor.Path} is stopped", letter.Reason);
        var line = Assert.Single(kit.Logs.Entries, e => e.EventId.Id == 1000);
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Contains("Int32", line.Message);
        Assert.Contains(letter.Reason, line.Message);
    }

    [Fact]
    public void An_unhandled_message_becomes_a_dead_letter_naming_the_actor_type()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var letters = kit.CreateTestProbe();
        kit.System.EventStream.Subscribe<DeadLetter>(letters.Ref);
        var actor = kit.System.ActorOf(Props.Create(() => new OnlyInts(probe.Ref)), "only-ints-unhandled");
        actor.Tell("not an int");
        actor.Tell(7);
        var letter = letters.ExpectMsg<DeadLetter>();
        Assert.Equal("not an int", letter.Message);
        Assert.Equal("unhandled by OnlyInts", letter.Reason);
        probe.ExpectMsg(7); // the actor goes on
    }

    [Fact]
    public void PoisonPill_stops_after_earlier_messages_and_later_ones_become_dead_letters()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var letters = kit.CreateTestProbe();
        kit.System.EventStream.Subscribe<DeadLetter>(letters.Ref);
        var actor = kit.System.ActorOf(Props.Create(() => new OnlyInts(probe.Ref)), "only-ints-pill");
        actor.Tell(1);
        actor.Tell(2);
        actor.Tell(PoisonPill.Instance);
        actor.Tell(3);
        probe.ExpectMsg(1);
        probe.ExpectMsg(2);
        var letter = letters.ExpectMsg<DeadLetter>();
        Assert.Equal(3, letter.Message);
        probe.ExpectNoMsg();
    }

    [Fact]
    public void Creating_a_second_live_actor_with_the_same_name_is_refused()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        kit.System.ActorOf(Props.Create(() => new OnlyInts(probe.Ref)), "twin");
        var error = Assert.Throws<InvalidActorNameException>(() => kit.System.ActorOf(Props.Create(() => new OnlyInts(probe.Ref)), "twin"));
        Assert.Contains("not unique", error.Message);
    }
}
