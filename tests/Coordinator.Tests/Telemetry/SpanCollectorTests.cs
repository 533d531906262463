using System.Diagnostics;
using Offload.Coordinator.Telemetry;
using Offload.Protocol.Telemetry;
using Xunit;

namespace Offload.Coordinator.Tests.Telemetry;

public sealed class SpanCollectorTests
{
    [Fact]
    public void Records_finished_spans_with_parent_ids_tags_and_status()
    {
        using var spans = new SpanCollector();
        var mine = new List<SpanRecord>();
        var marker = Guid.NewGuid().ToString("N");
        spans.Finished += s => { if (s.Tags.GetValueOrDefault("test.marker") == marker) lock (mine) mine.Add(s); };

        string traceId, parentId;
        using (var job = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.JobSpan))
        {
            Assert.NotNull(job);
            job.SetTag("test.marker", marker);
            traceId = job.TraceId.ToHexString();
            parentId = job.SpanId.ToHexString();
            using (var phase = OffloadTelemetry.StartPhase("eval", OffloadTelemetry.Phases.Onload, 3))
            {
                phase.Activity!.SetTag("test.marker", marker);
                phase.Activity.SetStatus(ActivityStatusCode.Error, "boom");
            }
        }

        lock (mine)
        {
            Assert.Equal([OffloadTelemetry.PhaseSpan, OffloadTelemetry.JobSpan], mine.Select(s => s.Name));
            var phase = mine[0];
            Assert.Equal((traceId, parentId, "error", "boom"), (phase.TraceId, phase.ParentSpanId, phase.Status, phase.StatusDescription));
            Assert.Equal("3", phase.Tags[OffloadTelemetry.AttrLayer]);
            Assert.Equal("onload", phase.Tags[OffloadTelemetry.AttrPhase]);
            Assert.Null(mine[1].ParentSpanId);
            Assert.True(mine[1].Duration >= phase.Duration);
        }
        Assert.Contains(spans.Recent(), s => s.Tags.GetValueOrDefault("test.marker") == marker);
    }

    [Fact]
    public void The_ring_keeps_the_latest_spans_oldest_first()
    {
        using var spans = new SpanCollector(capacity: 4);
        var source = OffloadTelemetry.Source;
        var marker = Guid.NewGuid().ToString("N");
        for (var i = 0; i < 10; i++)
        {
            using var a = source.StartActivity("test.span");
            a!.SetTag("test.marker", marker);
            a.SetTag("i", i);
        }
        var mine = spans.Recent().Where(s => s.Tags.GetValueOrDefault("test.marker") == marker).Select(s => int.Parse(s.Tags["i"])).ToList();
        Assert.True(spans.FinishedCount >= 10);
        // Other tests may end spans meanwhile: what is ours is the latest ones of ours, in order.
        Assert.InRange(mine.Count, 0, 4);
        Assert.Equal(Enumerable.Range(10 - mine.Count, mine.Count), mine);
        Assert.Equal(4, spans.Capacity);
    }
}
