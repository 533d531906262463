using Offload.Coordinator.Tests.Otlp;
using Offload.Protocol.Telemetry;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests.Telemetry;

/// <summary>
/// A real run exports its metrics and spans by OTLP/HTTP to an in-test receiver, with every instrument and span the
/// README's "Metrics" section lists (and nothing of ours that it does not list).
/// </summary>
public sealed class OtlpExportTests
{
    private const long DeviceBudget = 1 << 20;

    /// <summary>The run under test (layer-wise, two devices, a host budget small enough to spill).</summary>
    private static string[] CommandLine(string model) =>
    [
        "eval", "--model", model, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "32", "--windows", "6",
        "--batch", "2", "--devices", "cpu:0,cpu:1", "--device-memory", "1MiB", "--host-memory", "1KiB",
    ];

    /// <summary>README names this run cannot emit (compression only). Empty it when the run becomes `offload demo`.</summary>
    private static readonly string[] NotEmittedByThisRun =
    [
        OffloadTelemetry.GptqLoss, OffloadTelemetry.TransformCacheHits, OffloadTelemetry.TransformCacheMisses, OffloadTelemetry.GptqModuleSpan,
    ];

    private static string? Attr(IEnumerable<KeyValue> attributes, string key)
    {
        var kv = attributes.FirstOrDefault(a => a.Key == key);
        return kv?.Value.ValueCase switch
        {
            null => null,
            AnyValue.ValueOneofCase.StringValue => kv.Value.StringValue,
            AnyValue.ValueOneofCase.IntValue => kv.Value.IntValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => kv.Value.ToString(),
        };
    }

    [Fact]
    public async Task Eval_exports_every_readme_instrument_and_span_by_otlp_http_protobuf()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(dir, "tokenizer.bin"), overwrite: true);
        await using var receiver = await OtlpReceiver.StartAsync();

        var (rc, _, err) = OffloadChild.Run(CommandLine(dir), new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Address.ToString().TrimEnd('/'),
        });
        Assert.True(rc == 0, err);
        Assert.Empty(receiver.Rejected);

        var (readmeInstruments, readmeSpans) = ReadmeTelemetryNames.Read();
        Assert.NotEmpty(readmeInstruments);
        Assert.NotEmpty(readmeSpans);
        foreach (var name in NotEmittedByThisRun) Assert.True(readmeInstruments.Any(i => i.Name == name) || readmeSpans.Contains(name), $"{name} is excluded but not in the README");

        // ---- metrics ----
        var resources = receiver.Metrics.SelectMany(r => r.ResourceMetrics).ToList();
        Assert.NotEmpty(resources);
        Assert.All(resources, r => Assert.Equal("offload", Attr(r.Resource.Attributes, "service.name")));
        var metrics = resources.SelectMany(r => r.ScopeMetrics).Where(s => s.Scope.Name == OffloadTelemetry.Name).SelectMany(s => s.Metrics).ToList();
        var received = metrics.Select(m => m.Name).ToHashSet();
        foreach (var instrument in readmeInstruments.Where(i => !NotEmittedByThisRun.Contains(i.Name)))
        {
            Assert.True(received.Contains(instrument.Name), $"README lists {instrument.Name} but the run exported no such metric (got {string.Join(", ", received.Order())})");
            var m = metrics.First(x => x.Name == instrument.Name);
            Assert.True(m.Unit == instrument.Unit, $"{instrument.Name}: README unit {instrument.Unit}, exported {m.Unit}");
            var (expectedCase, monotonic) = instrument.Kind switch
            {
                "counter" => (Metric.DataOneofCase.Sum, (bool?)true),
                "observable up-down counter" or "up-down counter" => (Metric.DataOneofCase.Sum, false),
                "histogram" => (Metric.DataOneofCase.Histogram, null),
                "gauge" or "observable gauge" => (Metric.DataOneofCase.Gauge, null),
                _ => throw new InvalidDataException($"README kind '{instrument.Kind}' of {instrument.Name} is not one this test knows"),
            };
            Assert.True(m.DataCase == expectedCase, $"{instrument.Name}: README says {instrument.Kind}, exported {m.DataCase}");
            if (monotonic is { } mono) Assert.True(m.Sum.IsMonotonic == mono, $"{instrument.Name}: monotonic {m.Sum.IsMonotonic}");
        }
        var unlisted = received.Where(n => n.StartsWith("offload.", StringComparison.Ordinal) && readmeInstruments.All(i => i.Name != n)).ToList();
        Assert.True(unlisted.Count == 0, $"exported but not in the README's Metrics table: {string.Join(", ", unlisted)}");

        // A few values the run fixes: both devices' budgets, every layer completed, spilled activations.
        long LastInt(string name, string? key = null, string? value = null) => metrics.Where(m => m.Name == name)
            .SelectMany(m => m.Sum.DataPoints).Where(p => key is null || Attr(p.Attributes, key) == value).OrderBy(p => p.TimeUnixNano).Last().AsInt;
        Assert.Equal(DeviceBudget, LastInt(OffloadTelemetry.DeviceMemoryLimit, OffloadTelemetry.AttrDevice, "cpu:0"));
        Assert.Equal(DeviceBudget, LastInt(OffloadTelemetry.DeviceMemoryLimit, OffloadTelemetry.AttrDevice, "cpu:1"));
        Assert.InRange(LastInt(OffloadTelemetry.DeviceMemoryUsage, OffloadTelemetry.AttrDevice, "cpu:1"), 1, DeviceBudget);
        Assert.Equal(config.NumHiddenLayers, LastInt(OffloadTelemetry.LayersCompleted));
        Assert.True(LastInt(OffloadTelemetry.ActivationSpilled) > 0);
        Assert.Contains(metrics.Where(m => m.Name == OffloadTelemetry.MailboxDepth).SelectMany(m => m.Sum.DataPoints),
            p => Attr(p.Attributes, OffloadTelemetry.AttrActorType) == "DeviceActor"); // observed when the devices stop
        Assert.Contains(resources.SelectMany(r => r.ScopeMetrics).SelectMany(s => s.Metrics), m => m.Name == "dotnet.process.memory.working_set");

        // ---- spans ----
        var spans = receiver.Traces.SelectMany(r => r.ResourceSpans).SelectMany(r => r.ScopeSpans)
            .Where(s => s.Scope.Name == OffloadTelemetry.Name).SelectMany(s => s.Spans).ToList();
        var spanNames = spans.Select(s => s.Name).ToHashSet();
        foreach (var name in readmeSpans.Where(n => !NotEmittedByThisRun.Contains(n)))
            Assert.True(spanNames.Contains(name), $"README lists span {name} but the run exported none (got {string.Join(", ", spanNames.Order())})");
        var unlistedSpans = spanNames.Where(n => !readmeSpans.Contains(n)).ToList();
        Assert.True(unlistedSpans.Count == 0, $"exported spans not in the README: {string.Join(", ", unlistedSpans)}");

        var job = Assert.Single(spans, s => s.Name == OffloadTelemetry.JobSpan);
        Assert.True(job.ParentSpanId.IsEmpty);
        Assert.All(spans, s => Assert.Equal(job.TraceId, s.TraceId));
        var byId = spans.ToDictionary(s => s.SpanId);
        var layers = spans.Where(s => s.Name == OffloadTelemetry.LayerSpan).ToList();
        Assert.Equal(config.NumHiddenLayers, layers.Count);
        Assert.All(layers, l => Assert.Equal(job.SpanId, l.ParentSpanId));
        Assert.All(spans.Where(s => s.Name == OffloadTelemetry.PhaseSpan), p => Assert.Equal(OffloadTelemetry.LayerSpan, byId[p.ParentSpanId].Name));
        // Handlers of the layer shards ran inside the job's trace, under the phase that sent them their batches.
        var forwards = spans.Where(s => s.Name == OffloadTelemetry.ActorMessageSpan && Attr(s.Attributes, OffloadTelemetry.AttrMessageType) == "Forward").ToList();
        Assert.NotEmpty(forwards);
        Assert.All(forwards, f =>
        {
            Assert.Equal("LayerShard", Attr(f.Attributes, OffloadTelemetry.AttrActorType));
            Assert.Equal(OffloadTelemetry.PhaseSpan, byId[f.ParentSpanId].Name);
        });
    }

    /// <summary>
    /// `offload demo` (rotation, GPTQ and RTN compress jobs over two devices) exports every instrument and span the
    /// README lists — the compress-only ones included — and nothing unlisted.
    /// </summary>
    [Fact]
    public async Task Demo_exports_every_readme_instrument_and_span_including_the_compress_ones()
    {
        using var temp = new TempDir();
        await using var receiver = await OtlpReceiver.StartAsync();
        var (rc, _, err) = OffloadChild.Run(["demo", "--out", temp.Sub("demo"), "--progress", "none"], new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Address.ToString().TrimEnd('/'),
        });
        Assert.True(rc == 0, err);
        Assert.Empty(receiver.Rejected);
        var (readmeInstruments, readmeSpans) = ReadmeTelemetryNames.Read();
        var received = receiver.Metrics.SelectMany(r => r.ResourceMetrics).SelectMany(r => r.ScopeMetrics)
            .Where(s => s.Scope.Name == OffloadTelemetry.Name).SelectMany(s => s.Metrics).Select(m => m.Name).ToHashSet();
        foreach (var instrument in readmeInstruments)
            Assert.True(received.Contains(instrument.Name), $"README lists {instrument.Name} but the demo exported no such metric (got {string.Join(", ", received.Order())})");
        var spans = receiver.Traces.SelectMany(r => r.ResourceSpans).SelectMany(r => r.ScopeSpans)
            .Where(s => s.Scope.Name == OffloadTelemetry.Name).SelectMany(s => s.Spans).ToList();
        var spanNames = spans.Select(s => s.Name).ToHashSet();
        foreach (var name in readmeSpans)
            Assert.True(spanNames.Contains(name), $"README lists span {name} but the demo exported none (got {string.Join(", ", spanNames.Order())})");
        Assert.DoesNotContain(spanNames, n => !readmeSpans.Contains(n));
        // Two GPTQ calibration jobs (plain and rotated), each a root span with one child per layer.
        var jobs = spans.Where(s => s.Name == OffloadTelemetry.JobSpan).ToList();
        Assert.Equal(2, jobs.Count);
        Assert.All(jobs, j => Assert.True(j.ParentSpanId.IsEmpty));
        Assert.All(jobs, j => Assert.Equal(6, spans.Count(s => s.Name == OffloadTelemetry.LayerSpan && s.ParentSpanId == j.SpanId)));
        Assert.Contains(spans, s => s.Name == OffloadTelemetry.GptqModuleSpan && Attr(s.Attributes, OffloadTelemetry.AttrGptqModule) == "model.layers.5.mlp.down_proj");
    }
}
