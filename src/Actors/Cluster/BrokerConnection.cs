using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Offload.Actors.Cluster;

/// <summary>
/// One AMQP connection to the broker, with automatic recovery (a broker restart or a dropped socket reconnects the
/// connection, its channels, declared queues and consumers), and one channel for publishing with publisher
/// confirms: <see cref="PublishAsync"/> completes only when the broker has taken responsibility for the message
/// (written it to disk for a persistent message in a durable queue). While the broker is unreachable a publish
/// retries until <see cref="ClusterSettings.PublishTimeout"/>; a message may therefore reach its queue twice, which is
/// why receivers are idempotent by message id (at-least-once).
/// </summary>
public sealed class BrokerConnection : IAsyncDisposable
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly ClusterSettings _settings;
    private readonly ILogger _log;
    private readonly IConnection _connection;
    private readonly IChannel _publisher;
    private int _disposed;

    private BrokerConnection(ClusterSettings settings, ILogger log, IConnection connection, IChannel publisher)
    {
        _settings = settings;
        _log = log;
        _connection = connection;
        _publisher = publisher;
        Topology = new ClusterTopology(settings);
        _connection.ConnectionShutdownAsync += OnShutdown;
        _connection.RecoverySucceededAsync += OnRecovered;
    }

    public ClusterSettings Settings => _settings;

    public ClusterTopology Topology { get; }

    /// <summary>True while the socket to the broker is open.</summary>
    public bool IsOpen => _connection.IsOpen;

    /// <summary>Raised when the connection to the broker is lost (consumers stop receiving until recovery).</summary>
    public event Func<Task>? Lost;

    /// <summary>Raised when the connection, its channels and consumers have been recovered.</summary>
    public event Func<Task>? Recovered;

    /// <summary>Connects to the first broker URI that answers, retrying every <see cref="ClusterSettings.RetryInterval"/>
    /// until <see cref="ClusterSettings.PublishTimeout"/>.</summary>
    public static async Task<BrokerConnection> ConnectAsync(ClusterSettings settings, string clientName, ILoggerFactory? loggerFactory = null,
        CancellationToken ct = default)
    {
        settings.Validate();
        var log = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger<BrokerConnection>();
        var first = settings.BrokerUris[0];
        var factory = new ConnectionFactory
        {
            Uri = first,
            AutomaticRecoveryEnabled = true,
            TopologyRecoveryEnabled = true,
            NetworkRecoveryInterval = TimeSpan.FromSeconds(1),
            RequestedHeartbeat = TimeSpan.FromSeconds(10),
            ClientProvidedName = clientName,
        };
        var endpoints = settings.BrokerUris.Select(u => new AmqpTcpEndpoint(u)).ToList();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var connection = await factory.CreateConnectionAsync(endpoints, clientName, ct).ConfigureAwait(false);
                var publisher = await connection.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), ct).ConfigureAwait(false);
                var result = new BrokerConnection(settings, log, connection, publisher);
                await result.Topology.DeclareCommonAsync(publisher, ct).ConfigureAwait(false);
                return result;
            }
            catch (BrokerUnreachableException ex) when (sw.Elapsed < settings.PublishTimeout)
            {
                ClusterLog.BrokerUnreachable(log, string.Join(", ", settings.BrokerUris.Select(Redact)), ex.InnerException?.Message ?? ex.Message);
                await Task.Delay(settings.RetryInterval, ct).ConfigureAwait(false);
            }
            catch (BrokerUnreachableException ex)
            {
                throw new ClusterConfigurationException(
                    $"cluster: no broker answered at {string.Join(", ", settings.BrokerUris.Select(Redact))} within {settings.PublishTimeout.TotalSeconds} s ({ex.InnerException?.Message ?? ex.Message}); start the broker or fix broker.uris");
            }
        }
    }

    /// <summary>A new channel for consuming, with <paramref name="prefetch"/> unacknowledged messages at a time.</summary>
    public async Task<IChannel> CreateConsumerChannelAsync(ushort prefetch, CancellationToken ct = default)
    {
        var channel = await _connection.CreateChannelAsync(cancellationToken: ct).ConfigureAwait(false);
        await channel.BasicQosAsync(0, prefetch, global: false, ct).ConfigureAwait(false);
        return channel;
    }

    /// <summary>Runs a declaration (or any other channel operation) on the publishing channel, retrying while the broker is away.</summary>
    public Task DeclareAsync(Func<IChannel, Task> declare, CancellationToken ct = default) =>
        RetryAsync(() => declare(_publisher), "declare", ct);

    /// <summary>
    /// Publishes a persistent message and waits for the broker's confirm. Retries on a closed channel or a nack until
    /// <see cref="ClusterSettings.PublishTimeout"/>; an unroutable message (no such queue) fails at once.
    /// </summary>
    public Task PublishAsync(string exchange, string routingKey, ReadOnlyMemory<byte> body, BasicProperties properties, CancellationToken ct = default) =>
        PublishAsync(exchange, routingKey, body, properties, persistent: true, ct);

    /// <summary>As <see cref="PublishAsync(string, string, ReadOnlyMemory{byte}, BasicProperties, CancellationToken)"/>; a
    /// non-persistent message (a heartbeat) is not written to disk and does not survive a broker restart.</summary>
    public Task PublishAsync(string exchange, string routingKey, ReadOnlyMemory<byte> body, BasicProperties properties, bool persistent, CancellationToken ct = default)
    {
        properties.Persistent = persistent;
        return RetryAsync(async () => await _publisher.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, body, ct).ConfigureAwait(false),
            $"publish to '{(exchange.Length == 0 ? routingKey : exchange)}'", ct);
    }

    private async Task RetryAsync(Func<Task> operation, string what, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var attempt = 0;
        while (true)
        {
            try
            {
                await operation().ConfigureAwait(false);
                if (attempt > 0) ClusterLog.PublishRecovered(_log, what, attempt, sw.Elapsed.TotalSeconds);
                return;
            }
            catch (PublishException ex) when (ex.IsReturn)
            {
                throw new ClusterTransportException($"{what}: the broker returned the message as unroutable (no queue of that name)", ex);
            }
            catch (Exception ex) when (IsTransient(ex) && !ct.IsCancellationRequested && Volatile.Read(ref _disposed) == 0)
            {
                if (sw.Elapsed > _settings.PublishTimeout)
                    throw new ClusterTransportException($"{what}: the broker did not take the message within {_settings.PublishTimeout.TotalSeconds} s ({ex.Message})", ex);
                if (attempt++ == 0) ClusterLog.PublishRetrying(_log, what, ex.GetType().Name, ex.Message);
                await Task.Delay(RetryDelay, ct).ConfigureAwait(false);
            }
        }
    }

    private static bool IsTransient(Exception ex) =>
        ex is AlreadyClosedException or OperationInterruptedException or PublishException or BrokerUnreachableException
            or IOException or System.Net.Sockets.SocketException or TimeoutException
            || (ex is OperationCanceledException && ex is not TaskCanceledException { CancellationToken.IsCancellationRequested: true });

    private Task OnShutdown(object sender, ShutdownEventArgs e)
    {
        if (Volatile.Read(ref _disposed) != 0 || e.Initiator == ShutdownInitiator.Application) return Task.CompletedTask;
        ClusterLog.ConnectionLost(_log, e.ReplyText ?? "", e.Initiator.ToString());
        return Lost?.Invoke() ?? Task.CompletedTask;
    }

    private Task OnRecovered(object sender, AsyncEventArgs e)
    {
        ClusterLog.ConnectionRecovered(_log);
        return Recovered?.Invoke() ?? Task.CompletedTask;
    }

    private static string Redact(Uri uri) => new UriBuilder(uri) { Password = uri.UserInfo.Contains(':') ? "***" : "" }.Uri.ToString();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await _publisher.CloseAsync().ConfigureAwait(false);
            await _connection.CloseAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsTransient(ex))
        {
            // The broker is gone; nothing left to close cleanly.
        }
        _publisher.Dispose();
        _connection.Dispose();
    }
}
