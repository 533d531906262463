using Offload.Actors.Tests.TestKit;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class OrderingTests
{
    private sealed class Relay : ReceiveActor
    {
        public Relay(IActorRef target) => ReceiveAny(m => target.Tell(m, Sender));
    }

    [Fact]
    public void Messages_from_one_sender_arrive_in_send_order()
    {
        const int count = 20_000;
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var relay = kit.System.ActorOf(Props.Create(() => new Relay(probe.Ref)), "relay-order");
        for (var i = 0; i < count; i++) relay.Tell(i);
        for (var i = 0; i < count; i++) probe.ExpectMsg(i);
        probe.ExpectNoMsg();
    }

    private sealed record Numbered(int SenderId, int Sequence);

    private sealed record Report(int Received, int OutOfOrder);

    /// <summary>Counts messages and checks that each sender's sequence numbers arrive strictly increasing.</summary>
    private sealed class SequenceChecker : ReceiveActor
    {
        public SequenceChecker(int senders, int total, IActorRef report)
        {
            var last = new int[senders];
            Array.Fill(last, -1);
            var received = 0;
            var outOfOrder = 0;
            Receive<Numbered>(n =>
            {
                if (n.Sequence != last[n.SenderId] + 1) outOfOrder++;
                last[n.SenderId] = n.Sequence;
                if (++received == total) report.Tell(new Report(received, outOfOrder));
            });
        }
    }

    [Fact]
    public async Task Concurrent_senders_each_keep_their_own_order()
    {
        const int senders = 4, perSender = 5_000;
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var checker = kit.System.ActorOf(Props.Create(() => new SequenceChecker(senders, senders * perSender, probe.Ref)), "checker-concurrent");
        var tasks = Enumerable.Range(0, senders).Select(s => Task.Run(() =>
        {
            for (var i = 0; i < perSender; i++) checker.Tell(new Numbered(s, i));
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(ActorTestKit.SafetyTimeout);
        probe.ExpectMsg(new Report(senders * perSender, 0));
    }

    private sealed class AsyncWorker : ReceiveActor
    {
        public AsyncWorker(IActorRef probe, Task gate)
        {
            ReceiveAsync<string>(async name =>
            {
                probe.Tell("start:" + name);
                if (name == "first") await gate;
                probe.Tell("end:" + name);
            });
        }
    }

    [Fact]
    public void An_async_handler_finishes_before_the_next_message_starts()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var worker = kit.System.ActorOf(Props.Create(() => new AsyncWorker(probe.Ref, gate.Task)), "async-worker");
        worker.Tell("first");
        worker.Tell("second");
        probe.ExpectMsg("start:first");
        gate.SetResult();
        probe.ExpectMsg("end:first");
        probe.ExpectMsg("start:second");
        probe.ExpectMsg("end:second");
        probe.ExpectNoMsg();
    }
}
