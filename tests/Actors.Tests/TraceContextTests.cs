using System.Collections.Concurrent;
using System.Diagnostics;
using Offload.Actors.Tests.TestKit;
using Offload.Protocol.Telemetry;
using Xunit;

namespace Offload.Actors.Tests;

/// <summary>Trace context across mailboxes: the envelope carries it, the handler runs inside a child span.</summary>
public sealed class TraceContextTests : IDisposable
{
    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public TraceContextTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == OffloadTelemetry.Name,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => _stopped.Enqueue(a),
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    private List<Activity> Stopped(ActivityTraceId trace) => _stopped.Where(a => a.TraceId == trace).ToList();

    /// <summary>What a handler saw: the current span and the span it opened inside.</summary>
    private sealed record Seen(string? CurrentName, ActivitySpanId CurrentId, ActivitySpanId CurrentParent, ActivityTraceId Trace,
        string? ActorType, string? MessageType, ActivitySpanId InnerParent);

    private static Seen Look()
    {
        var current = Activity.Current;
        using var inner = OffloadTelemetry.Source.StartActivity("test.inner");
        return new Seen(current?.OperationName, current?.SpanId ?? default, current?.ParentSpanId ?? default, current?.TraceId ?? default,
            current?.GetTagItem(OffloadTelemetry.AttrActorType) as string, current?.GetTagItem(OffloadTelemetry.AttrMessageType) as string,
            inner?.ParentSpanId ?? default);
    }

    private sealed class Looker : ReceiveActor
    {
        public Looker()
        {
            Receive<string>(_ => Sender.Tell(Look(), Self));
            ReceiveAsync<int>(async _ =>
            {
                await Task.Yield();
                await Task.Delay(1);
                Sender.Tell(Look(), Self);
            });
            Receive<InvalidOperationException>(ex => throw ex);
        }
    }

    [Fact]
    public void Tell_runs_the_handler_in_a_child_span_of_the_senders_activity_so_inner_spans_join_the_trace()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var looker = kit.System.ActorOf(Props.Create<Looker>(), "looker");
        ActivityTraceId trace;
        ActivitySpanId parent;
        using (var job = OffloadTelemetry.Source.StartActivity("test.job"))
        {
            Assert.NotNull(job);
            trace = job.TraceId;
            parent = job.SpanId;
            probe.Send(looker, "look");
        }
        var seen = probe.ExpectMsg<Seen>();
        Assert.Equal(OffloadTelemetry.ActorMessageSpan, seen.CurrentName);
        Assert.Equal((trace, parent), (seen.Trace, seen.CurrentParent));
        Assert.Equal((nameof(Looker), nameof(String)), (seen.ActorType, seen.MessageType));
        Assert.Equal(seen.CurrentId, seen.InnerParent);
        kit.Settle();
        var spans = Stopped(trace);
        var message = Assert.Single(spans, a => a.OperationName == OffloadTelemetry.ActorMessageSpan && a.ParentSpanId == parent);
        Assert.Equal(ActivityStatusCode.Unset, message.Status);
        Assert.Single(spans, a => a.OperationName == "test.inner" && a.ParentSpanId == message.SpanId);
        // The reply, told inside the handler, continues the chain: the probe's handling is a child of the looker's span.
        var reply = Assert.Single(spans, a => a.OperationName == OffloadTelemetry.ActorMessageSpan && a.ParentSpanId == message.SpanId);
        Assert.Equal(nameof(Seen), reply.GetTagItem(OffloadTelemetry.AttrMessageType));
    }

    [Fact]
    public async Task Ask_carries_the_context_and_an_async_handler_keeps_its_span_across_awaits()
    {
        using var kit = new ActorTestKit();
        var looker = kit.System.ActorOf(Props.Create<Looker>(), "looker");
        using var job = OffloadTelemetry.Source.StartActivity("test.job");
        Assert.NotNull(job);
        var seen = await looker.Ask<Seen>(7, ActorTestKit.SafetyTimeout);
        Assert.Equal(OffloadTelemetry.ActorMessageSpan, seen.CurrentName);
        Assert.Equal((job.TraceId, job.SpanId), (seen.Trace, seen.CurrentParent));
        Assert.Equal(nameof(Int32), seen.MessageType);
        Assert.Equal(seen.CurrentId, seen.InnerParent);
        Assert.Same(job, Activity.Current); // the asker's own context is untouched
        kit.Settle();
        var message = Assert.Single(Stopped(job.TraceId), a => a.OperationName == OffloadTelemetry.ActorMessageSpan);
        var inner = Assert.Single(Stopped(job.TraceId), a => a.OperationName == "test.inner");
        // The message span ends after the handler's last await, so it encloses the inner span.
        Assert.True(message.StartTimeUtc + message.Duration >= inner.StartTimeUtc + inner.Duration);
    }

    [Fact]
    public void Without_a_context_there_is_no_span_and_nothing_leaks_from_the_previous_message()
    {
        using var kit = new ActorTestKit();
        var probe = kit.CreateTestProbe();
        var looker = kit.System.ActorOf(Props.Create<Looker>(), "looker");
        using (OffloadTelemetry.Source.StartActivity("test.job"))
            looker.Tell(1, probe.Ref);   // async handler with a span
        Assert.Null(Activity.Current);
        looker.Tell("after", probe.Ref); // no context: handled with no current activity
        Assert.Equal(OffloadTelemetry.ActorMessageSpan, probe.ExpectMsg<Seen>().CurrentName);
        var after = probe.ExpectMsg<Seen>();
        Assert.Null(after.CurrentName);
        Assert.Equal(default, after.InnerParent);
    }

    [Fact]
    public void A_throwing_handler_ends_its_span_with_error_status()
    {
        using var kit = new ActorTestKit();
        var looker = kit.System.ActorOf(Props.Create<Looker>(), "looker");
        ActivityTraceId trace;
        using (var job = OffloadTelemetry.Source.StartActivity("test.job"))
        {
            trace = job!.TraceId;
            looker.Tell(new InvalidOperationException("boom"));
        }
        kit.Settle();
        var message = Assert.Single(Stopped(trace), a => a.OperationName == OffloadTelemetry.ActorMessageSpan);
        Assert.Equal(ActivityStatusCode.Error, message.Status);
        Assert.Contains("boom", message.StatusDescription);
    }

    [Fact]
    public void The_envelope_formats_its_context_as_a_w3c_traceparent()
    {
        var context = new ActivityContext(ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c"),
            ActivitySpanId.CreateFromString("b7ad6b7169203331"), ActivityTraceFlags.Recorded);
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", new Envelope("m", null, context).TraceParent);
        Assert.Null(new Envelope("m").TraceParent);
    }
}
