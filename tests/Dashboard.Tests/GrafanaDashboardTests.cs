using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Offload.Coordinator.Job;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Dashboard.Tests;

/// <summary>
/// cluster-config/grafana-dashboard.json queries only metrics that Offload emits, under the names Prometheus gives
/// them (runtime-semantics.md §4.2: dots → _, unit suffix By → _bytes and s → _seconds, {…} units dropped, unit 1 →
/// _ratio on gauges, counters _total, histograms _bucket/_sum/_count; attribute dots → _). The instruments, with
/// their kinds and units, are the ones published on the meter "Offload" while a small layer-wise job runs here.
/// </summary>
public sealed class GrafanaDashboardTests
{
    private static readonly string DashboardFile = Path.Combine(SharedData.RepoRoot, "cluster-config", "grafana-dashboard.json");
    private static readonly Lazy<IReadOnlyDictionary<string, Instrument>> s_instruments = new(PublishedInstruments);

    [Fact]
    public void Every_metric_the_dashboard_queries_is_an_Offload_instrument_under_its_Prometheus_name()
    {
        var known = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var instrument in s_instruments.Value.Values)
            foreach (var n in PrometheusNames(instrument)) known[n] = instrument.Name;

        var queried = Queries().SelectMany(MetricNames).ToHashSet();
        Assert.NotEmpty(queried);
        var unknown = queried.Where(n => !known.ContainsKey(n)).Order().ToList();
        Assert.True(unknown.Count == 0,
            $"the Grafana dashboard queries metrics no Offload instrument becomes: {string.Join(", ", unknown)}; known: {string.Join(", ", known.Keys.Order())}");

        // Every instrument of the telemetry contract has a panel.
        var covered = queried.Select(n => known[n]).ToHashSet();
        var missing = InstrumentConstants().Where(n => !covered.Contains(n)).ToList();
        Assert.True(missing.Count == 0, $"no panel of the Grafana dashboard queries {string.Join(", ", missing)}");
    }

    [Fact]
    public void Every_label_the_dashboard_uses_is_an_Offload_attribute_under_its_Prometheus_name()
    {
        var attributes = typeof(OffloadTelemetry).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.Name.StartsWith("Attr", StringComparison.Ordinal))
            .Select(f => ((string)f.GetRawConstantValue()!).Replace('.', '_'))
            .Append("le") // histogram bucket bound
            .ToHashSet();
        var labels = new HashSet<string>();
        foreach (var q in Queries())
        {
            foreach (Match m in Regex.Matches(q, @"\b(?:by|without)\s*\(([^)]*)\)"))
                foreach (var l in m.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) labels.Add(l);
            foreach (Match m in Regex.Matches(q, @"\{([^{}]*)\}"))
                foreach (Match s in Regex.Matches(m.Groups[1].Value, @"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")) labels.Add(s.Groups[1].Value);
            foreach (Match m in Regex.Matches(q, @"label_values\([^,]+,\s*([a-zA-Z_][a-zA-Z0-9_]*)\)")) labels.Add(m.Groups[1].Value);
        }
        foreach (var legend in Targets().Select(t => t.TryGetProperty("legendFormat", out var l) ? l.GetString() ?? "" : ""))
            foreach (Match m in Regex.Matches(legend, @"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")) labels.Add(m.Groups[1].Value);
        Assert.NotEmpty(labels);
        var unknown = labels.Where(l => !attributes.Contains(l)).Order().ToList();
        Assert.True(unknown.Count == 0, $"the Grafana dashboard uses labels that are no Offload attribute: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void The_translation_follows_the_examples_of_the_spec()
    {
        // runtime-semantics.md §4.2: system.filesystem.usage (By, up-down) → system_filesystem_usage_bytes.
        using var meter = new Meter("translation-example");
        Assert.Equal(["system_filesystem_usage_bytes"], PrometheusNames(meter.CreateUpDownCounter<long>("system.filesystem.usage", "By")));
        Assert.Equal(["a_b_bytes_total"], PrometheusNames(meter.CreateCounter<long>("a.b", "By")));
        Assert.Equal(["a_c_total"], PrometheusNames(meter.CreateCounter<long>("a.c", "{layer}")));
        Assert.Equal(["a_d_seconds_bucket", "a_d_seconds_sum", "a_d_seconds_count"], PrometheusNames(meter.CreateHistogram<double>("a.d", "s")));
        Assert.Equal(["a_e_ratio"], PrometheusNames(meter.CreateObservableGauge("a.e", () => 0.5, "1")));
        Assert.Equal(["a_f"], PrometheusNames(meter.CreateObservableUpDownCounter("a.f", () => 1L, "{message}")));
    }

    /// <summary>The metric names in one PromQL text (label lists, label matchers and label_values' label taken out first).</summary>
    private static IEnumerable<string> MetricNames(string query)
    {
        var q = Regex.Replace(query, @"\b(?:by|without)\s*\([^)]*\)", " ");
        q = Regex.Replace(q, @"\{[^{}]*\}", " ");
        q = Regex.Replace(q, @"(label_values\([^,]+),[^)]*\)", "$1)");
        return Regex.Matches(q, @"\boffload_[a-z0-9_]+\b").Select(m => m.Value);
    }

    /// <summary>The Prometheus series names of one instrument.</summary>
    private static List<string> PrometheusNames(Instrument instrument)
    {
        var type = instrument.GetType().GetGenericTypeDefinition();
        var gauge = type == typeof(ObservableGauge<>) || type == typeof(Gauge<>);
        var counter = type == typeof(Counter<>) || type == typeof(ObservableCounter<>);
        var histogram = type == typeof(Histogram<>);
        var unit = instrument.Unit ?? "";
        var suffix = unit switch
        {
            "By" => "_bytes",
            "s" => "_seconds",
            "1" when gauge => "_ratio",
            _ => "",
        };
        var name = instrument.Name.Replace('.', '_');
        if (!name.EndsWith(suffix, StringComparison.Ordinal)) name += suffix;
        if (counter) return [name + "_total"];
        if (histogram) return [name + "_bucket", name + "_sum", name + "_count"];
        return [name];
    }

    /// <summary>The instrument names OffloadTelemetry fixes (its string constants whose value is an instrument's name).</summary>
    private static List<string> InstrumentConstants()
    {
        var constants = typeof(OffloadTelemetry).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string)).Select(f => (string)f.GetRawConstantValue()!).ToHashSet();
        var names = s_instruments.Value.Keys.Where(constants.Contains).ToList();
        Assert.Contains(OffloadTelemetry.DeviceMemoryUsage, names);
        return names;
    }

    /// <summary>Runs a small layer-wise evaluation (two devices, a budget below the model) while listening to the meter.</summary>
    private static IReadOnlyDictionary<string, Instrument> PublishedInstruments()
    {
        var published = new Dictionary<string, Instrument>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter, OffloadTelemetry.Meter))
                    lock (published) published[instrument.Name] = instrument;
            },
        };
        listener.Start();
        using var temp = new TempDir();
        var dir = temp.Sub("model");
        SyntheticCheckpoint.Write(dir, new SynthOptions { Layers = 3, Hidden = 32, Intermediate = 64, Heads = 4, KvHeads = 2, Vocab = 64, DType = DType.F32, Seed = 3 });
        var tokens = new int[4 * 16];
        for (var i = 0; i < tokens.Length; i++) tokens[i] = (i * 7 + 1) % 64;
        LayerwiseEvalJob.Run(new LayerwiseJobOptions
        {
            ModelDir = dir,
            SeqLen = 16,
            BatchRows = 1,
            Devices = [new DeviceId(DeviceKind.Cpu, 0), new DeviceId(DeviceKind.Cpu, 1)],
            DeviceMemoryBytes = 256 << 10,
            HostMemoryBytes = 1024,
            OutDir = temp.Sub("out"),
        }, tokens);
        lock (published) return new Dictionary<string, Instrument>(published);
    }

    private static IEnumerable<JsonElement> Targets()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(DashboardFile));
        var targets = new List<JsonElement>();
        void Walk(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                if (e.TryGetProperty("targets", out var t) && t.ValueKind == JsonValueKind.Array)
                    targets.AddRange(t.EnumerateArray().Select(x => x.Clone()));
                foreach (var p in e.EnumerateObject()) Walk(p.Value);
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var x in e.EnumerateArray()) Walk(x);
            }
        }
        Walk(doc.RootElement);
        return targets;
    }

    /// <summary>Every PromQL text in the dashboard: panel targets' expr and template variables' queries.</summary>
    private static List<string> Queries()
    {
        var queries = Targets().Select(t => t.GetProperty("expr").GetString() ?? "").ToList();
        using var doc = JsonDocument.Parse(File.ReadAllText(DashboardFile));
        foreach (var v in doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
            if (v.TryGetProperty("definition", out var d)) queries.Add(d.GetString() ?? "");
        Assert.True(queries.Count > 5, $"{DashboardFile}: expected panel targets with expr");
        return queries;
    }
}
