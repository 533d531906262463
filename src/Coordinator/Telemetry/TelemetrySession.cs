using System.CommandLine;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Offload.DeviceActors;
using Offload.Protocol;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Telemetry;

/// <summary>
/// The telemetry of one job command (<c>offload eval</c>, <c>offload compress</c>, …): started before the job,
/// disposed after it. It does, each only when asked:
/// <list type="bullet">
/// <item><b>OTLP export</b> (OpenTelemetry SDK: a MeterProvider over the meters "Offload" and "System.Runtime" and a
/// TracerProvider over the ActivitySource "Offload", each with the OTLP exporter) when OTEL_EXPORTER_OTLP_ENDPOINT,
/// OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (a signal is exported when its own
/// or the general variable is set). OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL picks http/protobuf (the default) or grpc;
/// with http/protobuf the general endpoint gets /v1/metrics or /v1/traces appended, a signal's own endpoint is used
/// as is. Metrics are exported every 5 s unless OTEL_METRIC_EXPORT_INTERVAL says otherwise; the other standard
/// variables (headers, timeout, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*) work as the SDK documents.</item>
/// <item><b><c>--metrics-out FILE</c></b>: a JSON-lines file, one JSON object per line, written as the run goes (each
/// line whole and flushed; the file is a log, so a failed run leaves the lines so far):
/// <code>
/// {"type":"metrics","seq":1,"time":"2025-01-01T00:00:00.0000000Z","final":false,"points":[
///    {"name":"offload.device.memory.usage","unit":"By","kind":"observable_updowncounter","meter":"Offload",
///     "attributes":{"hw.id":"cpu:0"},"value":1048576,"count":3,"sum":1048576,"min":0,"max":1048576}, …]}
/// {"type":"span","name":"offload.phase","trace_id":"…32 hex…","span_id":"…16 hex…","parent_span_id":"…"|null,
///  "start":"…ISO 8601 UTC…","duration_s":0.0123,"status":"unset"|"ok"|"error","status_description":null,
///  "attributes":{"calibration.phase":"calibrate","offload.layer":"3","offload.job.kind":"eval"}}
/// </code>
/// A "metrics" line is one <see cref="MetricSnapshot"/> (every <see cref="TelemetrySessionOptions.MetricsInterval"/>,
/// 1 s by default, when a device stops, and a last one with <c>"final":true</c> at the end); <c>seq</c> grows by one
/// per snapshot. Point fields are those of <see cref="MetricPoint"/> (value: running total for counters, last value
/// for up-down counters, gauges and observables, last recording for histograms; count/sum/min/max over all
/// measurements); non-finite numbers are written as null. A "span" line is one finished span
/// (<see cref="SpanRecord"/>), written when it ends.</item>
/// <item><b>In-process collectors</b> (<see cref="Metrics"/>, <see cref="Spans"/>) for <c>--metrics-out</c> and the
/// dashboard.</item>
/// </list>
/// A device that stops triggers a collection and an OTLP metrics flush first, so even a job shorter than the export
/// interval exports its device-memory values. Dispose writes the final snapshot and flushes both exporters.
/// </summary>
public sealed class TelemetrySession : IDisposable
{
    /// <summary>The option every job command carries (see <see cref="AddOptions"/>).</summary>
    public const string MetricsOutOptionName = "--metrics-out";

    private const int FlushTimeoutMilliseconds = 5000;
    private const int DefaultExportIntervalMilliseconds = 5000;
    private const int DefaultSpanQueue = 16384;

    private readonly MeterProvider? _meterProvider;
    private readonly TracerProvider? _tracerProvider;
    private readonly MetricsJsonLines? _out;
    private readonly Action<MetricSnapshot>? _onSnapshot;
    private readonly Action<SpanRecord>? _onSpan;
    private readonly Action<DeviceId> _onDeviceStopping;
    private bool _disposed;

    private TelemetrySession(TelemetrySessionOptions options)
    {
        var env = options.Environment;
        var metricsOtlp = OtlpSettings.Resolve("metrics", env);
        var tracesOtlp = OtlpSettings.Resolve("traces", env);
        string? outPath = null;
        if (options.MetricsOut is { } requested)
        {
            outPath = Path.GetFullPath(requested);
            var dir = Path.GetDirectoryName(outPath)!;
            if (!Directory.Exists(dir)) throw new OffloadException($"{MetricsOutOptionName} {requested}: folder {dir} does not exist; create it or write the file elsewhere");
            if (Directory.Exists(outPath)) throw new OffloadException($"{MetricsOutOptionName} {requested}: is a folder; name a file, e.g. {Path.Combine(requested, "metrics.jsonl")}");
        }

        try
        {
            if (outPath is not null || options.InProcess)
            {
                Metrics = new MetricsCollector();
                Spans = new SpanCollector();
            }
            if (outPath is not null)
            {
                _out = new MetricsJsonLines(outPath);
                MetricsOutPath = outPath;
                var writer = _out;
                _onSnapshot = s => writer.WriteSnapshot(s, final: false);
                _onSpan = writer.WriteSpan;
                Metrics!.Collected += _onSnapshot;
                Spans!.Finished += _onSpan;
                Metrics.StartPeriodic(options.MetricsInterval);
            }
            if (metricsOtlp is not null)
            {
                var intervalSet = !string.IsNullOrWhiteSpace(env("OTEL_METRIC_EXPORT_INTERVAL"));
                _meterProvider = Sdk.CreateMeterProviderBuilder()
                    .SetResourceBuilder(Resource(options))
                    .AddMeter(OffloadTelemetry.Name, MetricsCollector.RuntimeMeterName)
                    .AddOtlpExporter((exporter, reader) =>
                    {
                        metricsOtlp.ApplyTo(exporter);
                        if (!intervalSet) reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = DefaultExportIntervalMilliseconds;
                    })
                    .Build();
                MetricsEndpoint = metricsOtlp.Endpoint;
            }
            if (tracesOtlp is not null)
            {
                var queueSet = !string.IsNullOrWhiteSpace(env("OTEL_BSP_MAX_QUEUE_SIZE"));
                _tracerProvider = Sdk.CreateTracerProviderBuilder()
                    .SetResourceBuilder(Resource(options))
                    .AddSource(OffloadTelemetry.Name)
                    .AddOtlpExporter(exporter =>
                    {
                        tracesOtlp.ApplyTo(exporter);
                        if (!queueSet) exporter.BatchExportProcessorOptions.MaxQueueSize = DefaultSpanQueue;
                    })
                    .Build();
                TracesEndpoint = tracesOtlp.Endpoint;
            }
        }
        catch
        {
            DisposeParts();
            throw;
        }
        _onDeviceStopping = _ => CollectNow();
        DeviceRegistry.Stopping += _onDeviceStopping;
    }

    /// <summary>The in-process metrics (with <c>--metrics-out</c> or <see cref="TelemetrySessionOptions.InProcess"/>), else null.</summary>
    public MetricsCollector? Metrics { get; }

    /// <summary>The in-process span feed (with <c>--metrics-out</c> or <see cref="TelemetrySessionOptions.InProcess"/>), else null.</summary>
    public SpanCollector? Spans { get; }

    /// <summary>Full path of the JSON-lines file, or null.</summary>
    public string? MetricsOutPath { get; }

    /// <summary>Where OTLP metrics go, or null when they are not exported.</summary>
    public Uri? MetricsEndpoint { get; }

    /// <summary>Where OTLP spans go, or null when they are not exported.</summary>
    public Uri? TracesEndpoint { get; }

    /// <summary>Starts a session (see the class comment for what each option turns on).</summary>
    public static TelemetrySession Start(TelemetrySessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new TelemetrySession(options);
    }

    /// <summary>
    /// Starts the session of a parsed job command: <c>--metrics-out</c> from <paramref name="parse"/> when the command
    /// has the option (<see cref="AddOptions"/>), OTLP from the environment.
    /// </summary>
    public static TelemetrySession Start(ParseResult parse, bool inProcess = false)
    {
        ArgumentNullException.ThrowIfNull(parse);
        string? metricsOut = null;
        foreach (var option in parse.CommandResult.Command.Options)
        {
            if (option.Name == MetricsOutOptionName && option is Option<string?> typed) metricsOut = parse.GetValue(typed);
        }
        return Start(new TelemetrySessionOptions { MetricsOut = metricsOut, InProcess = inProcess });
    }

    /// <summary>Adds <c>--metrics-out FILE</c> to <paramref name="command"/> (every job command calls this) and returns it.</summary>
    public static Option<string?> AddOptions(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var option = new Option<string?>(MetricsOutOptionName)
        {
            Description = "write metric snapshots (every second and at the end) and finished spans to FILE as JSON lines; " +
                          "OTLP export follows the standard OTEL_EXPORTER_OTLP_* variables",
            HelpName = "FILE",
        };
        command.Options.Add(option);
        return option;
    }

    /// <summary>Takes a snapshot now (written to <c>--metrics-out</c>) and pushes the metrics to the OTLP endpoint.</summary>
    public void CollectNow()
    {
        if (_disposed) return;
        try
        {
            Metrics?.Collect();
        }
        catch (ObjectDisposedException)
        {
        }
        _meterProvider?.ForceFlush(FlushTimeoutMilliseconds);
    }

    /// <summary>Writes the final snapshot, closes the file and flushes both exporters.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DeviceRegistry.Stopping -= _onDeviceStopping;
        if (Metrics is not null && _out is not null)
        {
            Metrics.StopPeriodic();
            Metrics.Collected -= _onSnapshot;
            _out.WriteSnapshot(Metrics.Collect(), final: true);
        }
        DisposeParts();
    }

    private void DisposeParts()
    {
        if (Spans is not null && _onSpan is not null) Spans.Finished -= _onSpan;
        Spans?.Dispose();
        Metrics?.Dispose();
        _out?.Dispose();
        _meterProvider?.Dispose();
        _tracerProvider?.Dispose();
    }

    private static ResourceBuilder Resource(TelemetrySessionOptions options)
    {
        var builder = ResourceBuilder.CreateDefault();
        var named = !string.IsNullOrWhiteSpace(options.Environment("OTEL_SERVICE_NAME"))
                    || (options.Environment("OTEL_RESOURCE_ATTRIBUTES")?.Contains("service.name=", StringComparison.Ordinal) ?? false);
        if (!named) builder.AddService(options.ServiceName, serviceVersion: typeof(TelemetrySession).Assembly.GetName().Version?.ToString());
        return builder;
    }
}
