using System.Diagnostics;
using Akka.Actor;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Offload.Runtime;
using Xunit;

namespace Offload.DeviceActors.Tests;

/// <summary>
/// Trace context through Akka.NET mailboxes (<see cref="MeteredMailbox"/> + <see cref="TracedReceiveActor"/>): a
/// message sent under a span is handled in an offload.actor.message span, a child of it; Akka's own messages
/// (PoisonPill) still reach the cell as they are.
/// </summary>
public sealed class TracedActorTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_message_sent_under_a_span_is_handled_in_a_child_span_and_PoisonPill_still_stops_the_actor()
    {
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == OffloadTelemetry.Name, // the constant: Source may not exist yet when the listener is asked
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (spans) spans.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);
        var system = LocalActorSystem.Create("traced-tests");
        try
        {
            var device = DeviceClient.Start(system, new DeviceOptions(new DeviceId(DeviceKind.Cpu, 7), 1000));
            // Messages that reach an actor before its cell has started are queued by Akka.NET on another thread and carry
            // no context (documented on TracedReceiveActor): let it start first.
            await device.StatsAsync().WaitAsync(Safety);
            ActivityTraceId trace;
            ActivitySpanId parent;
            using (var job = OffloadTelemetry.Source.StartActivity("test.parent"))
            {
                Assert.NotNull(job);
                trace = job.TraceId;
                parent = job.SpanId;
                await device.StatsAsync().WaitAsync(Safety);
            }
            await device.StatsAsync().WaitAsync(Safety); // no current span: no message span
            // The span stops after the handler replied: wait (bounded) until the actor has finished both messages.
            Activity[] seen = [];
            for (var wait = Stopwatch.StartNew(); wait.Elapsed < Safety; await Task.Delay(10))
            {
                lock (spans) seen = spans.Where(a => a.OperationName == OffloadTelemetry.ActorMessageSpan).ToArray();
                if (seen.Length > 0) break;
            }
            await Task.Delay(100); // a second (wrong) span would have stopped by now
            lock (spans) seen = spans.Where(a => a.OperationName == OffloadTelemetry.ActorMessageSpan).ToArray();
            var message = Assert.Single(seen);
            Assert.Equal(trace, message.TraceId);
            Assert.Equal(parent, message.ParentSpanId);
            Assert.Equal("DeviceActor", message.GetTagItem(OffloadTelemetry.AttrActorType));
            Assert.Equal("GetStats", message.GetTagItem(OffloadTelemetry.AttrMessageType));

            var probe = new TaskCompletionSource();
            var watcher = system.ActorOf(Props.Create(() => new Watcher(device.Actor, probe)));
            using (OffloadTelemetry.Source.StartActivity("test.stop")) device.Actor.Tell(PoisonPill.Instance);
            await probe.Task.WaitAsync(Safety);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private sealed class Watcher : ReceiveActor
    {
        public Watcher(IActorRef watched, TaskCompletionSource stopped)
        {
            Context.Watch(watched);
            Receive<Terminated>(_ => stopped.TrySetResult());
        }
    }
}
