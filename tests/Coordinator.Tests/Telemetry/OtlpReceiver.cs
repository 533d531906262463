using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Offload.Coordinator.Tests.Otlp;

namespace Offload.Coordinator.Tests.Telemetry;

/// <summary>
/// An OTLP/HTTP receiver on Kestrel (127.0.0.1, a free port): POST /v1/metrics and /v1/traces with
/// application/x-protobuf bodies (gzip allowed), decoded with the test's opentelemetry-proto subset. Anything else is
/// answered 415 and remembered in <see cref="Rejected"/>.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app) => _app = app;

    public ConcurrentQueue<ExportMetricsServiceRequest> Metrics { get; } = new();
    public ConcurrentQueue<ExportTraceServiceRequest> Traces { get; } = new();
    public ConcurrentQueue<string> Rejected { get; } = new();
    public Uri Address { get; private set; } = null!;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/metrics", ctx => receiver.Accept(ctx, ExportMetricsServiceRequest.Parser, receiver.Metrics));
        app.MapPost("/v1/traces", ctx => receiver.Accept(ctx, ExportTraceServiceRequest.Parser, receiver.Traces));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        receiver.Address = new Uri(address);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task Accept<T>(HttpContext ctx, MessageParser<T> parser, ConcurrentQueue<T> into) where T : IMessage<T>
    {
        if (ctx.Request.ContentType?.Split(';')[0].Trim() != "application/x-protobuf")
        {
            Rejected.Enqueue($"{ctx.Request.Path}: content type {ctx.Request.ContentType}");
            ctx.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return;
        }
        using var body = new MemoryStream();
        Stream source = ctx.Request.Body;
        if (ctx.Request.Headers.ContentEncoding.ToString() == "gzip") source = new GZipStream(source, CompressionMode.Decompress);
        await source.CopyToAsync(body);
        into.Enqueue(parser.ParseFrom(body.ToArray()));
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/x-protobuf";
        // An empty Export*ServiceResponse: no partial success to report.
    }
}
