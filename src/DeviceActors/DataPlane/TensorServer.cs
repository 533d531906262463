using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Offload.Protocol.Telemetry;

namespace Offload.DeviceActors.DataPlane;

/// <summary>
/// A node's tensor server: Kestrel, HTTP/2 only (cleartext "h2c" with prior knowledge — the data plane runs inside
/// the cluster's network), serving <c>GET /tensors/{id}</c> from a <see cref="TensorStore"/> as a safetensors frame
/// (<see cref="Offload.Protocol.TensorFrame"/>). Single byte ranges are honoured (<c>Range: bytes=a-</c> or
/// <c>a-b</c> → 206 with Content-Range), so a client resumes a broken transfer where it stopped.
/// </summary>
public sealed class TensorServer : IAsyncDisposable
{
    /// <summary>Bytes copied into Kestrel's output per write.</summary>
    public const int ChunkBytes = 1 << 20;

    private readonly WebApplication _app;

    private TensorServer(WebApplication app, TensorStore store, Uri baseUri)
    {
        _app = app;
        Store = store;
        BaseUri = baseUri;
    }

    public TensorStore Store { get; }

    /// <summary>The URL other nodes reach this server at, e.g. "http://127.0.0.1:7101/".</summary>
    public Uri BaseUri { get; }

    /// <summary>Starts serving <paramref name="store"/> on <paramref name="bind"/>:<paramref name="port"/> (0 = a free port);
    /// <paramref name="advertisedHost"/> is the host name written into tensor URLs (default: the bind address).</summary>
    public static async Task<TensorServer> StartAsync(TensorStore store, string bind = "127.0.0.1", int port = 0, string? advertisedHost = null,
        ILoggerFactory? loggerFactory = null, CancellationToken ct = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (loggerFactory is not null) builder.Services.AddSingleton(loggerFactory);
        var address = IPAddress.Parse(bind);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(address, port, listen => listen.Protocols = HttpProtocols.Http2);
            k.Limits.MaxResponseBufferSize = 16L << 20;
            k.Limits.Http2.MaxStreamsPerConnection = 256;
            k.Limits.Http2.InitialConnectionWindowSize = 16 << 20;
            k.Limits.Http2.InitialStreamWindowSize = 8 << 20;
            k.Limits.Http2.MaxFrameSize = (1 << 24) - 1;
        });
        var app = builder.Build();
        app.MapGet("/tensors/{**id}", (HttpContext context, string id) => ServeAsync(store, context, id));
        await app.StartAsync(ct).ConfigureAwait(false);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var actualPort = new Uri(bound).Port;
        var host = advertisedHost ?? bind;
        var baseUri = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{(host.Contains(':') ? "[" + host + "]" : host)}:{actualPort}/"));
        store.BaseUri = baseUri;
        return new TensorServer(app, store, baseUri);
    }

    private static async Task ServeAsync(TensorStore store, HttpContext context, string id)
    {
        var response = context.Response;
        if (!store.TryAcquire(id, out var entry, out var tensor))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        using var bytes = TensorStore.ByteView(tensor);
        tensor.Dispose();
        var total = entry.FrameLength;
        response.Headers.AcceptRanges = "bytes";
        response.ContentType = "application/octet-stream";
        long start = 0, end = total - 1;
        var range = context.Request.Headers.Range.ToString();
        if (range.Length > 0)
        {
            if (!TryParseRange(range, total, out start, out end))
            {
                response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
                response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes */{total}");
                return;
            }
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = string.Create(CultureInfo.InvariantCulture, $"bytes {start}-{end}/{total}");
        }
        response.ContentLength = end - start + 1;
        var writer = response.BodyWriter;
        var ct = context.RequestAborted;
        var position = start;
        var prefix = entry.Prefix;
        while (position <= end)
        {
            int n;
            if (position < prefix.Length)
            {
                n = (int)Math.Min(prefix.Length - position, end - position + 1);
                prefix.AsSpan((int)position, n).CopyTo(writer.GetSpan(n));
            }
            else
            {
                var at = position - prefix.Length;
                n = (int)Math.Min(ChunkBytes, end - position + 1);
                using var part = bytes.Slice(at, n);
                part.Bytes().CopyTo(writer.GetSpan(n));
            }
            writer.Advance(n);
            position += n;
            var flushed = await writer.FlushAsync(ct).ConfigureAwait(false);
            if (flushed.IsCanceled || flushed.IsCompleted) return;
        }
        OffloadTelemetry.TransferSizeCounter.Add(end - start + 1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrDirection, OffloadTelemetry.Directions.Peer));
    }

    /// <summary>Parses one "bytes=a-b" / "bytes=a-" / "bytes=-n" range within a resource of <paramref name="total"/> bytes.</summary>
    public static bool TryParseRange(string header, long total, out long start, out long end)
    {
        start = 0;
        end = total - 1;
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) || header.Contains(',')) return false;
        var spec = header[6..].Trim();
        var dash = spec.IndexOf('-');
        if (dash < 0) return false;
        var a = spec[..dash].Trim();
        var b = spec[(dash + 1)..].Trim();
        var inv = CultureInfo.InvariantCulture;
        if (a.Length == 0)
        {
            if (!long.TryParse(b, NumberStyles.None, inv, out var suffix) || suffix <= 0) return false;
            start = Math.Max(0, total - suffix);
            return total > 0;
        }
        if (!long.TryParse(a, NumberStyles.None, inv, out start) || start >= total) return false;
        if (b.Length > 0)
        {
            if (!long.TryParse(b, NumberStyles.None, inv, out end) || end < start) return false;
            end = Math.Min(end, total - 1);
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
