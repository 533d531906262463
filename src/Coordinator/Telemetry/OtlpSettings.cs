using OpenTelemetry.Exporter;
using Offload.Protocol;

namespace Offload.Coordinator.Telemetry;

/// <summary>
/// Where one signal (metrics or traces) goes by OTLP, from the standard variables: the signal's
/// OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT as is, else OTEL_EXPORTER_OTLP_ENDPOINT plus /v1/{signal} for http/protobuf;
/// protocol from OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf (the
/// specification's default); headers and timeout from the signal's variables where set (the SDK reads the generic
/// OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT itself).
/// </summary>
internal sealed record OtlpSettings(Uri Endpoint, OtlpExportProtocol Protocol, string? Headers, int? TimeoutMilliseconds)
{
    /// <summary>The settings of <paramref name="signal"/> ("metrics" or "traces"), or null when no endpoint variable is set.</summary>
    public static OtlpSettings? Resolve(string signal, Func<string, string?> env)
    {
        var upper = signal.ToUpperInvariant();
        var specificVar = $"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT";
        var specific = NonEmpty(env(specificVar));
        var general = NonEmpty(env("OTEL_EXPORTER_OTLP_ENDPOINT"));
        if (specific is null && general is null) return null;

        var protocolVar = NonEmpty(env($"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL")) is not null ? $"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
        var protocolText = NonEmpty(env(protocolVar)) ?? "http/protobuf";
        var protocol = protocolText.ToLowerInvariant() switch
        {
            "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
            "grpc" => OtlpExportProtocol.Grpc,
            _ => throw new OffloadException($"{protocolVar}={protocolText}: unsupported OTLP protocol; use http/protobuf or grpc"),
        };

        Uri endpoint;
        if (specific is not null)
        {
            endpoint = ParseUri(specificVar, specific);
        }
        else
        {
            var baseUri = ParseUri("OTEL_EXPORTER_OTLP_ENDPOINT", general!);
            endpoint = protocol == OtlpExportProtocol.HttpProtobuf
                ? new Uri(baseUri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/v1/" + signal + baseUri.Query)
                : baseUri;
        }

        int? timeout = null;
        var timeoutVar = $"OTEL_EXPORTER_OTLP_{upper}_TIMEOUT";
        if (NonEmpty(env(timeoutVar)) is { } t)
        {
            if (!int.TryParse(t, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms) || ms <= 0)
                throw new OffloadException($"{timeoutVar}={t}: not a positive number of milliseconds");
            timeout = ms;
        }
        return new OtlpSettings(endpoint, protocol, NonEmpty(env($"OTEL_EXPORTER_OTLP_{upper}_HEADERS")), timeout);
    }

    /// <summary>Applies these settings to the exporter's options.</summary>
    public void ApplyTo(OtlpExporterOptions options)
    {
        options.Protocol = Protocol;
        options.Endpoint = Endpoint;
        if (Headers is not null) options.Headers = Headers;
        if (TimeoutMilliseconds is { } ms) options.TimeoutMilliseconds = ms;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();

    private static Uri ParseUri(string variable, string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new OffloadException($"{variable}={text}: not an http(s) URL; write e.g. http://127.0.0.1:4318");
        return uri;
    }
}
