using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Offload.Protocol.Telemetry;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests.Telemetry;

/// <summary>`--metrics-out FILE`: numbered metric snapshots and finished spans as JSON lines.</summary>
public sealed class MetricsOutTests
{
    [Fact]
    public void Eval_writes_numbered_snapshots_a_final_one_and_one_line_per_span()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(dir, "tokenizer.bin"), overwrite: true);
        var file = temp.Sub("metrics.jsonl");
        var (rc, _, err) = OffloadChild.Run(
        [
            "eval", "--model", dir, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "32", "--windows", "6", "--batch", "2",
            "--devices", "cpu:0,cpu:1", "--device-memory", "1MiB", "--metrics-out", file,
        ]);
        Assert.True(rc == 0, err);

        var lines = File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var snapshots = lines.Where(l => l.GetProperty("type").GetString() == "metrics").ToList();
        var spans = lines.Where(l => l.GetProperty("type").GetString() == "span").ToList();
        Assert.Equal(lines.Count, snapshots.Count + spans.Count);

        // Numbered 1, 2, 3, … in file order; only the last is final (a device stopping adds one before it).
        Assert.True(snapshots.Count >= 3, $"{snapshots.Count} snapshots");
        Assert.Equal(Enumerable.Range(1, snapshots.Count), snapshots.Select(s => s.GetProperty("seq").GetInt32()));
        Assert.Equal(snapshots.Count - 1, snapshots.FindIndex(s => s.GetProperty("final").GetBoolean()));
        Assert.Equal("metrics", lines[^1].GetProperty("type").GetString());

        var final = snapshots[^1].GetProperty("points").EnumerateArray().ToList();
        JsonElement Point(string name, string? key = null, string? value = null) => Assert.Single(final, p =>
            p.GetProperty("name").GetString() == name && (key is null || (p.GetProperty("attributes").TryGetProperty(key, out var v) && v.GetString() == value)));
        Assert.Equal(config.NumHiddenLayers, Point(OffloadTelemetry.LayersCompleted).GetProperty("value").GetDouble());
        foreach (var device in new[] { "cpu:0", "cpu:1" })
        {
            var limit = Point(OffloadTelemetry.DeviceMemoryLimit, OffloadTelemetry.AttrDevice, device);
            Assert.Equal((1 << 20, "By", "observable_updowncounter"),
                (limit.GetProperty("value").GetDouble(), limit.GetProperty("unit").GetString(), limit.GetProperty("kind").GetString()));
            // The device's own account on stderr ("cpu:0: … transferred 1.02 MiB in 6 transfers …") against the transfer metrics.
            var m = Regex.Match(err, $@"{Regex.Escape(device)}: .*? in (\d+) transfers");
            Assert.True(m.Success, err);
            var durations = Point(OffloadTelemetry.TransferDuration, OffloadTelemetry.AttrDevice, device);
            Assert.Equal(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), durations.GetProperty("count").GetInt64());
            Assert.Equal("histogram", durations.GetProperty("kind").GetString());
        }

        // Spans: one job, one span per layer under it, phases under layers, all in one trace.
        string Name(JsonElement s) => s.GetProperty("name").GetString()!;
        var job = Assert.Single(spans, s => Name(s) == OffloadTelemetry.JobSpan);
        Assert.Equal(JsonValueKind.Null, job.GetProperty("parent_span_id").ValueKind);
        var trace = job.GetProperty("trace_id").GetString();
        Assert.Matches("^[0-9a-f]{32}$", trace);
        Assert.All(spans, s => Assert.Equal(trace, s.GetProperty("trace_id").GetString()));
        var layers = spans.Where(s => Name(s) == OffloadTelemetry.LayerSpan).ToList();
        Assert.Equal(config.NumHiddenLayers, layers.Count);
        Assert.All(layers, l => Assert.Equal(job.GetProperty("span_id").GetString(), l.GetProperty("parent_span_id").GetString()));
        Assert.Equal(Enumerable.Range(0, config.NumHiddenLayers).Select(i => i.ToString(CultureInfo.InvariantCulture)),
            layers.Select(l => l.GetProperty("attributes").GetProperty(OffloadTelemetry.AttrLayer).GetString()).Order());
        var layerIds = layers.Select(l => l.GetProperty("span_id").GetString()).ToHashSet();
        var phases = spans.Where(s => Name(s) == OffloadTelemetry.PhaseSpan).ToList();
        Assert.All(phases, p => Assert.Contains(p.GetProperty("parent_span_id").GetString(), layerIds));
        Assert.Contains(phases, p => p.GetProperty("attributes").GetProperty(OffloadTelemetry.AttrPhase).GetString() == OffloadTelemetry.Phases.Calibrate);
        Assert.All(spans, s => Assert.True(s.GetProperty("duration_s").GetDouble() >= 0));
        // The job span ends last: every span of the run ended before it.
        Assert.Equal(OffloadTelemetry.JobSpan, Name(spans[^1]));
    }

    [Fact]
    public void A_metrics_out_path_in_a_missing_folder_is_a_one_line_usage_error()
    {
        using var temp = new TempDir();
        var missing = Path.Combine(temp.Sub("no-such-folder"), "m.jsonl");
        var (rc, _, err) = OffloadChild.Run(["eval", "--model", temp.Path, "--text", "x.txt", "--metrics-out", missing]);
        Assert.Equal(2, rc);
        Assert.Contains("--metrics-out", err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.False(File.Exists(missing));
    }
}
