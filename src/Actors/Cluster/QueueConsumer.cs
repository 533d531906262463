using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Offload.Protocol.Telemetry;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Offload.Actors.Cluster;

/// <summary>
/// Consumes one queue with manual acknowledgements (at-least-once): a message is acknowledged only after its handler's
/// task has completed, so a crash or a lost connection before that makes the broker deliver it again.
/// <code>
///  delivery ─► decode ─fail─► dead-letter (reason header) ─► ack
///                │ok
///                ├─ validate ─fail─► dead-letter ─► ack
///                ├─ id already handled ─► ack (the redelivery changes nothing)
///                └─ handler(message) ─► task completes ─► remember id ─► ack
///                                         └ throws ─► nack + requeue; after MaxHandlerAttempts ─► dead-letter ─► ack
/// </code>
/// The handler is called on the consumer's dispatch loop, one delivery at a time and in queue order; it should start
/// the work and return its task quickly (messages of one entity then reach the entity's mailbox in order, while the
/// consumer keeps up to the prefetch count in flight).
/// </summary>
public sealed class QueueConsumer : IAsyncDisposable
{
    private readonly BrokerConnection _broker;
    private readonly ClusterMessageTypes _types;
    private readonly ProcessedMessageIds _processed;
    private readonly Func<InboundMessage, Task> _handler;
    private readonly Func<InboundMessage, string?>? _validate;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ulong, Task> _inFlight = new();
    private readonly SemaphoreSlim _ackGate = new(1, 1);
    private IChannel _channel = null!;
    private string _consumerTag = "";
    private int _stopped;

    private QueueConsumer(BrokerConnection broker, string queue, ClusterMessageTypes types, ProcessedMessageIds processed,
        Func<InboundMessage, Task> handler, Func<InboundMessage, string?>? validate, ILogger log)
    {
        _broker = broker;
        Queue = queue;
        _types = types;
        _processed = processed;
        _handler = handler;
        _validate = validate;
        _log = log;
    }

    public string Queue { get; }

    /// <summary>Deliveries whose handler has not completed yet.</summary>
    public int InFlight => _inFlight.Count;

    /// <summary>
    /// Starts consuming <paramref name="queue"/> with <paramref name="prefetch"/> unacknowledged messages at most.
    /// <paramref name="validate"/> returns a dead-letter reason for a message that decoded but does not belong here.
    /// <paramref name="arguments"/> are basic.consume arguments (e.g. a stream offset).
    /// </summary>
    public static async Task<QueueConsumer> StartAsync(BrokerConnection broker, string queue, ushort prefetch, ClusterMessageTypes types,
        ProcessedMessageIds processed, Func<InboundMessage, Task> handler, Func<InboundMessage, string?>? validate = null,
        ILogger? log = null, IDictionary<string, object?>? arguments = null, CancellationToken ct = default)
    {
        var consumer = new QueueConsumer(broker, queue, types, processed, handler, validate,
            log ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        consumer._channel = await broker.CreateConsumerChannelAsync(prefetch, ct).ConfigureAwait(false);
        var basic = new AsyncEventingBasicConsumer(consumer._channel);
        basic.ReceivedAsync += consumer.OnReceived;
        consumer._consumerTag = await consumer._channel.BasicConsumeAsync(queue, autoAck: false, consumerTag: "", noLocal: false, exclusive: false,
            arguments, basic, ct).ConfigureAwait(false);
        return consumer;
    }

    private async Task OnReceived(object sender, BasicDeliverEventArgs ea)
    {
        var tag = ea.DeliveryTag;
        var body = ea.Body.ToArray(); // the delivery's buffer is reused once this callback returns
        if (!EnvelopeCodec.TryUnwrap(body, _types, out var envelope, out var payload, out var reason))
        {
            await TrackAsync(tag, DeadLetterAsync(tag, body, ea.BasicProperties, envelope?.MessageId ?? ea.BasicProperties.MessageId ?? "", reason)).ConfigureAwait(false);
            return;
        }
        var message = new InboundMessage(envelope, payload, Queue, ea.Redelivered);
        if (_validate?.Invoke(message) is { } invalid)
        {
            await TrackAsync(tag, DeadLetterAsync(tag, body, ea.BasicProperties, envelope.MessageId, invalid)).ConfigureAwait(false);
            return;
        }
        if (_processed.Contains(envelope.MessageId))
        {
            ClusterLog.Duplicate(_log, Queue, envelope.MessageId);
            OffloadTelemetry.ClusterDuplicatesCounter.Add(1);
            await AckAsync(tag).ConfigureAwait(false);
            return;
        }
        Task work;
        try
        {
            work = _handler(message);
        }
        catch (Exception ex)
        {
            work = Task.FromException(ex);
        }
        var registered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _inFlight[tag] = CompleteAsync(tag, body, ea.BasicProperties.MessageId, message, work, registered.Task);
        registered.SetResult();
    }

    /// <summary>Counts a dead-lettering in flight, so that <see cref="StopAsync"/> waits for it too.</summary>
    private async Task TrackAsync(ulong tag, Task work)
    {
        _inFlight[tag] = work;
        try
        {
            await work.ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(tag, out _);
        }
    }

    private async Task CompleteAsync(ulong tag, byte[] body, string? amqpMessageId, InboundMessage message, Task work, Task registered)
    {
        await registered.ConfigureAwait(false); // so that the finally below never runs before the task is in _inFlight
        try
        {
            try
            {
                await work.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                var id = message.Envelope.MessageId;
                var attempt = _failures.AddOrUpdate(id, 1, (_, n) => n + 1);
                var max = _broker.Settings.MaxHandlerAttempts;
                ClusterLog.HandlerFailed(_log, Queue, message.Envelope.Type, id, attempt, max, ex.Message, ex);
                if (attempt >= max)
                {
                    _failures.TryRemove(id, out _);
                    await DeadLetterAsync(tag, body, null, id, $"handler failed {attempt} times: {ex.GetType().Name}: {ex.Message}", amqpMessageId).ConfigureAwait(false);
                }
                else
                {
                    await NackAsync(tag).ConfigureAwait(false);
                }
                return;
            }
            _failures.TryRemove(message.Envelope.MessageId, out _);
            _processed.Add(message.Envelope.MessageId);
            await AckAsync(tag).ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(tag, out _);
        }
    }

    private async Task DeadLetterAsync(ulong tag, byte[] body, IReadOnlyBasicProperties? original, string messageId, string reason, string? amqpMessageId = null)
    {
        ClusterLog.DeadLettered(_log, Queue, messageId, reason);
        OffloadTelemetry.ClusterDeadLetteredCounter.Add(1);
        var properties = new BasicProperties
        {
            MessageId = messageId.Length > 0 ? messageId : amqpMessageId ?? original?.MessageId,
            Type = original?.Type,
            Headers = new Dictionary<string, object?>
            {
                [ClusterTopology.ReasonHeader] = Encoding.UTF8.GetBytes(reason),
                [ClusterTopology.SourceQueueHeader] = Encoding.UTF8.GetBytes(Queue),
                [ClusterTopology.NodeHeader] = Encoding.UTF8.GetBytes(_broker.Settings.NodeId),
            },
        };
        try
        {
            await _broker.PublishAsync(_broker.Topology.DeadLetterExchange, "", body, properties).ConfigureAwait(false);
        }
        catch (ClusterTransportException)
        {
            return; // not acknowledged: the broker delivers it again and it is dead-lettered then
        }
        await AckAsync(tag).ConfigureAwait(false);
    }

    private async Task AckAsync(ulong tag)
    {
        await _ackGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_channel.IsOpen) await _channel.BasicAckAsync(tag, multiple: false).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or IOException or ObjectDisposedException)
        {
            // The channel went away: the broker requeues the message, and its redelivery is acknowledged as a duplicate.
        }
        finally
        {
            _ackGate.Release();
        }
    }

    private async Task NackAsync(ulong tag)
    {
        await _ackGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_channel.IsOpen) await _channel.BasicNackAsync(tag, multiple: false, requeue: true).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or IOException or ObjectDisposedException)
        {
            // Requeued by the broker anyway when the channel closed.
        }
        finally
        {
            _ackGate.Release();
        }
    }

    /// <summary>
    /// Stops taking deliveries, waits up to <paramref name="drain"/> for the handlers in flight, then closes the
    /// channel: messages whose handler has not finished are requeued by the broker (and redelivered to the next consumer).
    /// </summary>
    public async Task StopAsync(TimeSpan drain)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        try
        {
            if (_channel.IsOpen) await _channel.BasicCancelAsync(_consumerTag).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException)
        {
            // The channel is gone already.
        }
        var pending = _inFlight.Values.ToArray();
        if (pending.Length > 0) await Task.WhenAny(Task.WhenAll(pending), Task.Delay(drain)).ConfigureAwait(false);
        try
        {
            await _channel.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException)
        {
            // Already closed.
        }
        _channel.Dispose();
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
}
