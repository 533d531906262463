using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// The dashboard's HTTP server (Kestrel, HTTP/1.1): <c>GET /</c> the self-contained page (inline script, style and
/// SVG; nothing fetched from elsewhere), <c>GET /events</c> the server-sent-events stream (<c>event: snapshot</c> per
/// frame with <c>id:</c> = the snapshot's sequence, then <c>event: end</c>), <c>GET /frame</c> the latest frame as JSON
/// (204 before the first). No logging, no configuration files, and no hold on Ctrl+C (<see cref="QuietLifetime"/>).
/// </summary>
public sealed class DashboardServer : IAsyncDisposable, IDisposable
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(2);

    private readonly WebApplication _app;
    private readonly SseHub _hub;
    private bool _disposed;

    private DashboardServer(WebApplication app, SseHub hub, Uri url)
    {
        _app = app;
        _hub = hub;
        Url = url;
    }

    /// <summary>The page's address, with the port actually bound (port 0 asks for a free one).</summary>
    public Uri Url { get; }

    /// <summary>Binds <paramref name="address"/> and starts serving; a bind failure is a <see cref="DashboardException"/>.</summary>
    public static DashboardServer Start(DashboardAddress address)
    {
        var hub = new SseHub();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(new IPEndPoint(address.Address, address.Port));
        });
        builder.Services.AddSingleton<IHostLifetime, QuietLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = StopTimeout);
        var app = builder.Build();
        var page = DashboardPage.Bytes;
        app.Run(context => Handle(context, hub, page, app.Lifetime.ApplicationStopping));
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (IOException ex)
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new DashboardException($"--dashboard {address}: cannot listen there ({ex.Message}); pick another port, or port 0 for a free one", ex);
        }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        var url = bound is null ? new Uri($"http://{address}/") : new Uri(bound.TrimEnd('/') + "/");
        return new DashboardServer(app, hub, url);
    }

    /// <summary>Sends one frame (<paramref name="json"/>, built from snapshot <paramref name="sequence"/>) to every client.</summary>
    public void Publish(long sequence, string json) => _hub.Publish(sequence, json);

    /// <summary>Sends the final frame as <c>event: end</c> and closes every stream; later frames are ignored.</summary>
    public void Complete(long sequence, string json) => _hub.Complete(sequence, json);

    /// <summary>The latest frame's JSON, or null before the first.</summary>
    public string? Latest => _hub.Latest;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        using var timeout = new CancellationTokenSource(StopTimeout);
        try
        {
            await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static async Task Handle(HttpContext context, SseHub hub, byte[] page, CancellationToken stopping)
    {
        var request = context.Request;
        var response = context.Response;
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            return;
        }
        response.Headers.CacheControl = "no-store";
        switch (request.Path.Value)
        {
            case "/" or "/index.html":
                response.ContentType = "text/html; charset=utf-8";
                response.ContentLength = page.Length;
                await response.Body.WriteAsync(page, context.RequestAborted).ConfigureAwait(false);
                return;
            case "/frame":
                if (hub.Latest is not { } latest)
                {
                    response.StatusCode = StatusCodes.Status204NoContent;
                    return;
                }
                response.ContentType = "application/json";
                await response.WriteAsync(latest, context.RequestAborted).ConfigureAwait(false);
                return;
            case "/events":
                await Stream(context, hub, stopping).ConfigureAwait(false);
                return;
            default:
                response.StatusCode = StatusCodes.Status404NotFound;
                return;
        }
    }

    private static async Task Stream(HttpContext context, SseHub hub, CancellationToken stopping)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        // A server stopping after Complete lets each stream drain to its end event (the host waits for it, up to its
        // shutdown timeout); one stopping without Complete ends the streams at once.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        using var onStop = stopping.Register(() =>
        {
            if (!hub.IsComplete) cancel.Cancel();
        });
        var reader = hub.Subscribe();
        try
        {
            await response.WriteAsync("retry: 2000\n\n", cancel.Token).ConfigureAwait(false);
            await response.Body.FlushAsync(cancel.Token).ConfigureAwait(false);
            await foreach (var message in reader.ReadAllAsync(cancel.Token).ConfigureAwait(false))
            {
                await response.WriteAsync(message, cancel.Token).ConfigureAwait(false);
                if (reader.Count == 0) await response.Body.FlushAsync(cancel.Token).ConfigureAwait(false);
            }
            await response.Body.FlushAsync(cancel.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            hub.Unsubscribe(reader);
        }
    }
}
