using System.Diagnostics;
using System.Diagnostics.Metrics;
using Offload.Coordinator.Telemetry;
using Offload.Protocol.Telemetry;
using Xunit;

namespace Offload.Coordinator.Tests.Telemetry;

public sealed class MetricsCollectorTests
{
    private static MetricPoint Single(MetricSnapshot s, string name, string? attrKey = null, string? attrValue = null) =>
        Assert.Single(s.Points, p => p.Name == name && (attrKey is null || (p.Attributes.TryGetValue(attrKey, out var v) && v == attrValue)));

    [Fact]
    public void Keeps_sums_last_values_and_histogram_statistics_per_attribute_set()
    {
        var meterName = "Test.Collector." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(meterName);
        using var collector = new MetricsCollector([meterName]);
        var counter = meter.CreateCounter<long>("t.bytes", "By");
        var updown = meter.CreateUpDownCounter<int>("t.queue", "{message}");
        var histogram = meter.CreateHistogram<double>("t.duration", "s");
        var observed = 7L;
        meter.CreateObservableUpDownCounter("t.usage", () => new Measurement<long>(observed, new KeyValuePair<string, object?>("hw.id", "cpu:0")), "By");

        counter.Add(100, new KeyValuePair<string, object?>("dir", "h2d"));
        counter.Add(23, new KeyValuePair<string, object?>("dir", "h2d"));
        counter.Add(5, new KeyValuePair<string, object?>("dir", "d2h"));
        updown.Add(3);
        updown.Add(-1);
        histogram.Record(0.5);
        histogram.Record(0.125);
        histogram.Record(2.0);

        var first = collector.Collect();
        Assert.Equal(1, first.Sequence);
        var h2d = Single(first, "t.bytes", "dir", "h2d");
        Assert.Equal(("By", "counter", 123.0, 2L, 123.0), (h2d.Unit, h2d.Kind, h2d.Value, h2d.Count, h2d.Sum));
        Assert.Equal(5.0, Single(first, "t.bytes", "dir", "d2h").Value);
        var q = Single(first, "t.queue");
        Assert.Equal(("updowncounter", 2.0), (q.Kind, q.Value));
        var h = Single(first, "t.duration");
        Assert.Equal(("histogram", 3L, 2.625, 0.125, 2.0, 2.0), (h.Kind, h.Count, h.Sum, h.Min, h.Max, h.Value));
        var u = Single(first, "t.usage", "hw.id", "cpu:0");
        Assert.Equal(("observable_updowncounter", 7.0), (u.Kind, u.Value));
        Assert.Equal(meterName, u.Meter);

        observed = 11;
        counter.Add(1, new KeyValuePair<string, object?>("dir", "h2d"));
        var second = collector.Collect();
        Assert.Equal(2, second.Sequence);
        Assert.Equal(11.0, Single(second, "t.usage").Value);
        Assert.Equal(124.0, Single(second, "t.bytes", "dir", "h2d").Value);
        Assert.True(second.Time >= first.Time);
    }

    [Fact]
    public void Attribute_order_does_not_split_a_series_and_values_use_the_invariant_culture()
    {
        var meterName = "Test.Collector." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(meterName);
        using var collector = new MetricsCollector([meterName]);
        var counter = meter.CreateCounter<long>("t.n");
        counter.Add(1, new("a", "x"), new("b", 1.5));
        counter.Add(2, new("b", 1.5), new("a", "x"));
        var p = Assert.Single(collector.Collect().Points);
        Assert.Equal(3.0, p.Value);
        Assert.Equal(["a", "b"], p.Attributes.Keys);
        Assert.Equal("1.5", p.Attributes["b"]);
    }

    [Fact]
    public void Sees_the_offload_meters_push_instruments()
    {
        using var collector = new MetricsCollector();
        var device = "test:" + Guid.NewGuid().ToString("N");
        OffloadTelemetry.TransferSizeCounter.Add(4096,
            new KeyValuePair<string, object?>(OffloadTelemetry.AttrDirection, OffloadTelemetry.Directions.HostToDevice),
            new KeyValuePair<string, object?>(OffloadTelemetry.AttrDevice, device));
        var p = Single(collector.Collect(), OffloadTelemetry.TransferSize, OffloadTelemetry.AttrDevice, device);
        Assert.Equal((4096.0, "By", OffloadTelemetry.Name), (p.Value, p.Unit, p.Meter));
    }

    [Fact]
    public void Includes_the_dotnet_runtime_meter()
    {
        using var collector = new MetricsCollector();
        var snapshot = collector.Collect();
        var ws = Assert.Single(snapshot.Points, p => p.Name == "dotnet.process.memory.working_set");
        Assert.True(ws.Value > 1 << 20);
        Assert.Equal(MetricsCollector.RuntimeMeterName, ws.Meter);
    }

    [Fact]
    public void Periodic_collection_raises_numbered_snapshots_until_disposed()
    {
        var meterName = "Test.Collector." + Guid.NewGuid().ToString("N");
        using var meter = new Meter(meterName);
        var collector = new MetricsCollector([meterName]);
        var seen = new List<long>();
        var three = new ManualResetEventSlim();
        collector.Collected += s => { lock (seen) { seen.Add(s.Sequence); if (seen.Count == 3) three.Set(); } };
        collector.StartPeriodic(TimeSpan.FromMilliseconds(20));
        Assert.True(three.Wait(TimeSpan.FromSeconds(10)));
        collector.Dispose();
        long[] after;
        lock (seen) after = [.. seen];
        Assert.Equal(Enumerable.Range(1, after.Length).Select(i => (long)i), after);
        Thread.Sleep(100);
        lock (seen) Assert.Equal(after.Length, seen.Count);
        Assert.Throws<ObjectDisposedException>(() => collector.Collect());
    }
}
