using Offload.Actors.Tests.TestKit;
using Offload.Protocol.Telemetry;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class MailboxDepthTests
{
    /// <summary>Blocks in its first message until released; an actor type no other test uses.</summary>
    private sealed class MailboxDepthGate : ReceiveActor
    {
        public MailboxDepthGate(ManualResetEventSlim entered, ManualResetEventSlim release) =>
            ReceiveAny(_ =>
            {
                entered.Set();
                release.Wait(ActorTestKit.SafetyTimeout);
            });
    }

    [Fact]
    public void Reports_the_messages_waiting_per_actor_type_and_forgets_stopped_actors()
    {
        using var kit = new ActorTestKit();
        using var rec = new MeasurementRecorder(OffloadTelemetry.MailboxDepth);
        using var enteredA = new ManualResetEventSlim();
        using var enteredB = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var a = kit.System.ActorOf(Props.Create(() => new MailboxDepthGate(enteredA, release)), "a");
        var b = kit.System.ActorOf(Props.Create(() => new MailboxDepthGate(enteredB, release)), "b");
        a.Tell(0);
        b.Tell(0);
        Assert.True(enteredA.Wait(ActorTestKit.SafetyTimeout));
        Assert.True(enteredB.Wait(ActorTestKit.SafetyTimeout));
        for (var i = 1; i <= 4; i++) a.Tell(i);    // a and b are busy with message 0: these wait
        for (var i = 1; i <= 2; i++) b.Tell(i);
        rec.Observe();
        Assert.Equal([6.0], rec.Values(OffloadTelemetry.MailboxDepth, OffloadTelemetry.AttrActorType, nameof(MailboxDepthGate)));

        release.Set();
        kit.Settle();
        rec.Clear();
        rec.Observe();
        Assert.Equal([0.0], rec.Values(OffloadTelemetry.MailboxDepth, OffloadTelemetry.AttrActorType, nameof(MailboxDepthGate)));

        kit.System.Stop(a);
        kit.System.Stop(b);
        kit.Settle();
        rec.Clear();
        rec.Observe();
        Assert.Empty(rec.Values(OffloadTelemetry.MailboxDepth, OffloadTelemetry.AttrActorType, nameof(MailboxDepthGate)));
    }
}
