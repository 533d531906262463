using OpenTelemetry.Exporter;
using Offload.Coordinator.Telemetry;
using Offload.Protocol;
using Xunit;

namespace Offload.Coordinator.Tests.Telemetry;

/// <summary>Where each signal goes, from the standard OTEL_EXPORTER_OTLP_* variables.</summary>
public sealed class OtlpSettingsTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars)
    {
        var d = new Dictionary<string, string>();
        foreach (var (k, v) in vars) d[k] = v; // a later value replaces an earlier one
        return k => d.GetValueOrDefault(k);
    }

    [Fact]
    public void Nothing_is_exported_without_an_endpoint_variable()
    {
        Assert.Null(OtlpSettings.Resolve("metrics", Env(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"))));
        Assert.Null(OtlpSettings.Resolve("traces", Env(("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://h:1/m"))));
    }

    [Fact]
    public void The_general_endpoint_gets_the_signal_path_with_http_protobuf_by_default()
    {
        var env = Env(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"));
        var m = OtlpSettings.Resolve("metrics", env)!;
        var t = OtlpSettings.Resolve("traces", env)!;
        Assert.Equal((new Uri("http://collector:4318/v1/metrics"), OtlpExportProtocol.HttpProtobuf), (m.Endpoint, m.Protocol));
        Assert.Equal(new Uri("http://collector:4318/v1/traces"), t.Endpoint);
        Assert.Equal(new Uri("http://c:4318/prefix/v1/metrics"), OtlpSettings.Resolve("metrics", Env(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/prefix")))!.Endpoint);
    }

    [Fact]
    public void A_signal_endpoint_is_used_as_is_and_grpc_keeps_the_base_url()
    {
        var env = Env(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4318/custom/traces"), ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "k=v"), ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"));
        var m = OtlpSettings.Resolve("metrics", env)!;
        Assert.Equal((new Uri("http://a:4317"), OtlpExportProtocol.Grpc), (m.Endpoint, m.Protocol));
        var t = OtlpSettings.Resolve("traces", env)!;
        Assert.Equal((new Uri("http://b:4318/custom/traces"), OtlpExportProtocol.HttpProtobuf, "k=v", (int?)2500), (t.Endpoint, t.Protocol, t.Headers, t.TimeoutMilliseconds));
    }

    [Theory]
    [InlineData("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]
    [InlineData("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "soon")]
    public void A_bad_variable_is_named_in_a_one_line_error(string variable, string value)
    {
        var env = Env(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), (variable, value));
        var ex = Assert.Throws<OffloadException>(() => OtlpSettings.Resolve("metrics", env));
        Assert.StartsWith($"{variable}={value}:", ex.Message);
    }
}
