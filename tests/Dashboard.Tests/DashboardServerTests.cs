using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Offload.Coordinator.Dashboard;
using Offload.Coordinator.Telemetry;
using Offload.Protocol.Telemetry;
using Xunit;

namespace Offload.Dashboard.Tests;

/// <summary>The dashboard's HTTP surface in process, read with HttpClient: page, SSE frames, end event, bind errors.</summary>
public sealed class DashboardServerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Each_snapshot_becomes_one_event_whose_id_and_values_are_the_snapshots()
    {
        using var metrics = new MetricsCollector();
        using var session = DashboardSession.Start(DashboardAddress.Parse("127.0.0.1:0", false), metrics);
        using var http = new HttpClient { BaseAddress = session.Url, Timeout = Wait };
        using var cancel = new CancellationTokenSource(Wait);
        // A device name no other test uses: the meter is process-wide.
        var device = "test:" + Guid.NewGuid().ToString("N")[..8];

        using var response = await http.GetAsync("events", HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var sse = new SseReader(await response.Content.ReadAsStreamAsync(cancel.Token));

        OffloadTelemetry.TransferSizeCounter.Add(3000, Tag(OffloadTelemetry.AttrDirection, "h2d"), Tag(OffloadTelemetry.AttrDevice, device));
        var first = metrics.Collect();
        OffloadTelemetry.TransferSizeCounter.Add(1000, Tag(OffloadTelemetry.AttrDirection, "h2d"), Tag(OffloadTelemetry.AttrDevice, device));
        var second = metrics.Collect();

        foreach (var (snapshot, bytes) in new[] { (first, 3000.0), (second, 4000.0) })
        {
            var e = await sse.NextAsync(cancel.Token);
            Assert.NotNull(e);
            Assert.Equal("snapshot", e.Event);
            Assert.Equal(snapshot.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Id);
            using var frame = JsonDocument.Parse(e.Data);
            Assert.Equal(snapshot.Sequence, frame.RootElement.GetProperty("sequence").GetInt64());
            var transfer = frame.RootElement.GetProperty("transfers").EnumerateArray().Single(t => t.GetProperty("device").GetString() == device);
            Assert.Equal("h2d", transfer.GetProperty("direction").GetString());
            Assert.Equal(bytes, transfer.GetProperty("bytes").GetDouble());
            if (snapshot == second)
            {
                // 1000 bytes between the two snapshots, over the time between them.
                var expected = 1000 / (second.Time - first.Time).TotalSeconds;
                Assert.Equal(expected, transfer.GetProperty("bytesPerSecond").GetDouble(), expected * 1e-9);
            }
        }

        // The latest frame is also served as JSON.
        using (var latest = JsonDocument.Parse(await http.GetStringAsync("frame", cancel.Token)))
            Assert.Equal(second.Sequence, latest.RootElement.GetProperty("sequence").GetInt64());

        // Disposing ends the stream with the last snapshot as event "end".
        var reading = sse.NextAsync(cancel.Token);
        session.Dispose();
        var end = await reading;
        Assert.NotNull(end);
        Assert.Equal("end", end.Event);
        Assert.Equal(second.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), end.Id);
        Assert.Null(await sse.NextAsync(cancel.Token));
    }

    [Fact]
    public async Task A_client_that_connects_late_gets_the_recent_frames_first()
    {
        using var metrics = new MetricsCollector();
        using var session = DashboardSession.Start(DashboardAddress.Parse("127.0.0.1:0", false), metrics);
        var sequences = new[] { metrics.Collect().Sequence, metrics.Collect().Sequence, metrics.Collect().Sequence };
        using var http = new HttpClient { BaseAddress = session.Url, Timeout = Wait };
        using var cancel = new CancellationTokenSource(Wait);
        using var response = await http.GetAsync("events", HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        var sse = new SseReader(await response.Content.ReadAsStreamAsync(cancel.Token));
        foreach (var s in sequences)
            Assert.Equal(s.ToString(System.Globalization.CultureInfo.InvariantCulture), (await sse.NextAsync(cancel.Token))?.Id);
    }

    [Fact]
    public async Task The_job_state_comes_from_the_job_layer_and_phase_spans()
    {
        using var metrics = new MetricsCollector();
        using var session = DashboardSession.Start(DashboardAddress.Parse("127.0.0.1:0", false), metrics);
        var kind = "test-" + Guid.NewGuid().ToString("N")[..6];
        JsonElement job;
        // No other test of this assembly starts a job span in this process (the live test runs the job as a child).
        using (var jobSpan = StartJob(kind, layers: 4))
        {
            for (var l = 0; l < 2; l++) RunLayer(kind, l);
            using (var third = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.LayerSpan))
            {
                third?.SetTag(OffloadTelemetry.AttrLayer, 2);
                using (OffloadTelemetry.StartPhase(kind, OffloadTelemetry.Phases.Calibrate, 2))
                    job = await FrameOf(session, metrics.Collect());
                using (OffloadTelemetry.StartPhase(kind, OffloadTelemetry.Phases.Offload, 2)) { }
                OffloadTelemetry.LayersCompletedCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, kind));
            }
            RunLayer(kind, 3);
        }
        Assert.Equal(kind, job.GetProperty("kind").GetString());
        Assert.Equal("running", job.GetProperty("status").GetString());
        Assert.Equal(4, job.GetProperty("layersTotal").GetInt32());
        Assert.Equal(2, job.GetProperty("layersCompleted").GetInt32());
        Assert.Equal(2, job.GetProperty("currentLayer").GetInt32());
        Assert.Equal("calibrate", job.GetProperty("currentPhase").GetString());
        Assert.True(job.GetProperty("etaSeconds").GetDouble() > 0);
        var timeline = job.GetProperty("timeline").EnumerateArray()
            .Select(e => (e.GetProperty("layer").GetString(), e.GetProperty("phase").GetString(), e.GetProperty("running").GetBoolean())).ToList();
        Assert.Equal([("0", "calibrate", false), ("0", "offload", false), ("1", "calibrate", false), ("1", "offload", false), ("2", "calibrate", true)], timeline);

        var done = await FrameOf(session, metrics.Collect());
        Assert.Equal("finished", done.GetProperty("status").GetString());
        Assert.Equal(4, done.GetProperty("layersCompleted").GetInt32());
        Assert.Equal(JsonValueKind.Null, done.GetProperty("currentLayer").ValueKind);
        Assert.Equal(0, done.GetProperty("etaSeconds").GetDouble());
        Assert.Equal(8, done.GetProperty("timeline").GetArrayLength());
        Assert.Equal(0, done.GetProperty("errors").GetArrayLength());
    }

    [Fact]
    public async Task A_job_that_ends_before_its_last_layer_is_shown_failed()
    {
        using var metrics = new MetricsCollector();
        using var session = DashboardSession.Start(DashboardAddress.Parse("127.0.0.1:0", false), metrics);
        var kind = "test-" + Guid.NewGuid().ToString("N")[..6];
        using (StartJob(kind, layers: 3))
        {
            RunLayer(kind, 0);
            // Layer 1 throws inside its span: the span ends, the layers-completed counter does not move.
            using var layer = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.LayerSpan);
            layer?.SetTag(OffloadTelemetry.AttrLayer, 1);
            using (OffloadTelemetry.StartPhase(kind, OffloadTelemetry.Phases.Calibrate, 1)) { }
        }
        var job = await FrameOf(session, metrics.Collect());
        Assert.Equal("failed", job.GetProperty("status").GetString());
        Assert.Equal(1, job.GetProperty("layersCompleted").GetInt32());
        Assert.Equal("the job ended after 1 of 3 layers", Assert.Single(job.GetProperty("errors").EnumerateArray()).GetString());

        session.ReportError("layer 1 calibrate: out of memory");
        job = await FrameOf(session, metrics.Collect());
        Assert.Contains("layer 1 calibrate: out of memory", job.GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
    }

    private static System.Diagnostics.Activity StartJob(string kind, int layers)
    {
        var job = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.JobSpan);
        Assert.NotNull(job);
        job.SetTag(OffloadTelemetry.AttrJobKind, kind);
        job.SetTag(OffloadTelemetry.AttrLayers, layers);
        return job;
    }

    private static void RunLayer(string kind, int l)
    {
        using var layer = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.LayerSpan);
        layer?.SetTag(OffloadTelemetry.AttrLayer, l);
        using (OffloadTelemetry.StartPhase(kind, OffloadTelemetry.Phases.Calibrate, l)) Thread.Sleep(5);
        using (OffloadTelemetry.StartPhase(kind, OffloadTelemetry.Phases.Offload, l)) { }
        OffloadTelemetry.LayersCompletedCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, kind));
    }

    [Fact]
    public void An_address_in_use_is_a_one_line_error_naming_the_option()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var metrics = new MetricsCollector();
        var ex = Assert.Throws<DashboardException>(() => DashboardSession.Start(DashboardAddress.Parse($"127.0.0.1:{port}", false), metrics));
        Assert.StartsWith($"--dashboard 127.0.0.1:{port}:", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public async Task The_page_is_self_contained()
    {
        using var metrics = new MetricsCollector();
        using var session = DashboardSession.Start(DashboardAddress.Parse("127.0.0.1:0", false), metrics);
        using var http = new HttpClient { BaseAddress = session.Url, Timeout = Wait };
        var html = await http.GetStringAsync("/");
        Assert.Contains("<svg id=\"memory-chart\"", html);
        Assert.Contains("new EventSource(\"events\")", html);
        // Nothing is loaded from elsewhere: no external script, stylesheet, image, font or absolute URL.
        Assert.DoesNotContain("<script src", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https://", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch(@"http://(?!www\.w3\.org/2000/svg)", html);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/nothing-here")).StatusCode);
    }

    private static async Task<JsonElement> FrameOf(DashboardSession session, MetricSnapshot snapshot)
    {
        using var http = new HttpClient { BaseAddress = session.Url, Timeout = Wait };
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var text = await http.GetStringAsync("frame");
            var doc = JsonDocument.Parse(text);
            if (doc.RootElement.GetProperty("sequence").GetInt64() == snapshot.Sequence) return doc.RootElement.GetProperty("job").Clone();
            Assert.True(sw.Elapsed < Wait, "the frame of the snapshot never arrived");
            await Task.Delay(20);
        }
    }

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);
}
