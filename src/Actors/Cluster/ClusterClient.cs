using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Offload.Actors.Sharding;
using Offload.Protocol;
using Offload.Protocol.Cluster;
using RabbitMQ.Client;

namespace Offload.Actors.Cluster;

/// <summary>
/// Sends control messages into a cluster and receives replies: to the coordinator (its queue), to a sharded entity
/// (its shard's queue, which is the entity's durable mailbox), or to one node (its queue). Requests carry a reply
/// queue; a reply carries the request's message id as correlation id and completes the matching
/// <see cref="AskEntityAsync"/> / <see cref="AskCoordinatorAsync{T}"/>. Every cluster node has one (its reply queue is
/// its node queue); a process outside the cluster (a test, a job driver) uses one with a private reply queue.
/// </summary>
public sealed class ClusterClient : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<InboundMessage>> _pending = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Type, int Shard), Task> _declared = new();
    private readonly ConcurrentDictionary<(string Type, int Shard), string> _homes = new();
    private readonly ILogger _log;
    private readonly bool _ownsBroker;
    private QueueConsumer? _replies;

    private ClusterClient(BrokerConnection broker, bool ownsBroker, string senderId, string replyQueue, ClusterMessageTypes types, ILogger log)
    {
        Broker = broker;
        _ownsBroker = ownsBroker;
        SenderId = senderId;
        ReplyQueue = replyQueue;
        Types = types;
        _log = log;
    }

    public BrokerConnection Broker { get; }

    public ClusterSettings Settings => Broker.Settings;

    /// <summary>The id written as sender in every envelope (the node id, or "client-…").</summary>
    public string SenderId { get; }

    /// <summary>Where replies to this client's requests arrive.</summary>
    public string ReplyQueue { get; }

    public ClusterMessageTypes Types { get; }

    /// <summary>Messages to <see cref="ReplyQueue"/> that answer no pending request (a node's commands). The task completes
    /// when the message is handled; it is acknowledged then.</summary>
    public Func<InboundMessage, Task>? Unsolicited { get; set; }

    /// <summary>The last known home (node id) of every shard this client asked about (mirrors Akka's region cache).</summary>
    public IReadOnlyDictionary<(string Type, int Shard), string> ShardHomes => _homes;

    /// <summary>A client with its own connection and a private reply queue (exclusive, deleted when the client disconnects).</summary>
    public static async Task<ClusterClient> ConnectAsync(ClusterSettings settings, ClusterMessageTypes? types = null, ILoggerFactory? loggerFactory = null,
        CancellationToken ct = default)
    {
        var id = "client-" + Guid.NewGuid().ToString("N")[..12];
        var broker = await BrokerConnection.ConnectAsync(settings, id, loggerFactory, ct).ConfigureAwait(false);
        var queue = $"{broker.Topology.Prefix}.{id}";
        await broker.DeclareAsync(ch => ch.QueueDeclareAsync(queue, durable: false, exclusive: true, autoDelete: true, cancellationToken: ct), ct).ConfigureAwait(false);
        return await StartAsync(broker, ownsBroker: true, id, queue, types, loggerFactory, ct).ConfigureAwait(false);
    }

    /// <summary>A client over an existing connection whose replies arrive at <paramref name="replyQueue"/> (declared already).</summary>
    internal static async Task<ClusterClient> StartAsync(BrokerConnection broker, bool ownsBroker, string senderId, string replyQueue, ClusterMessageTypes? types,
        ILoggerFactory? loggerFactory, CancellationToken ct)
    {
        var log = (loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger<ClusterClient>();
        var client = new ClusterClient(broker, ownsBroker, senderId, replyQueue, types ?? ClusterMessageTypes.Protocol, log);
        client._replies = await QueueConsumer.StartAsync(broker, replyQueue, 256, client.Types, new ProcessedMessageIds(broker.Settings.DedupCapacity),
            client.OnReply, log: log, ct: ct).ConfigureAwait(false);
        return client;
    }

    private Task OnReply(InboundMessage message)
    {
        var correlation = message.Envelope.CorrelationId;
        if (correlation.Length > 0 && _pending.TryRemove(correlation, out var waiter))
        {
            waiter.TrySetResult(message);
            return Task.CompletedTask;
        }
        if (message.Payload is ShardHome home) _homes[(home.EntityType, home.Shard)] = home.NodeId;
        if (correlation.Length > 0 && message.Payload is not ShardHome) return Task.CompletedTask; // a late or repeated reply
        return Unsolicited?.Invoke(message) ?? Task.CompletedTask;
    }

    // ---- coordinator -------------------------------------------------------------------------------------------

    /// <summary>Sends <paramref name="message"/> to the coordinator singleton (whichever node is active; it waits in the
    /// durable queue while none is).</summary>
    public Task TellCoordinatorAsync(IMessage message, bool persistent = true, CancellationToken ct = default) =>
        PublishAsync("", Broker.Topology.CoordinatorQueue, EnvelopeCodec.Wrap(message, SenderId, ReplyQueue), persistent, ct);

    /// <summary>Asks the coordinator and waits for a reply of type <typeparamref name="T"/> (across a coordinator takeover:
    /// the request waits in the queue for the next coordinator).</summary>
    public async Task<T> AskCoordinatorAsync<T>(IMessage message, TimeSpan timeout, CancellationToken ct = default) where T : IMessage
    {
        var envelope = EnvelopeCodec.Wrap(message, SenderId, ReplyQueue);
        var reply = await AskAsync(envelope, "", Broker.Topology.CoordinatorQueue, timeout, ct).ConfigureAwait(false);
        return reply.Payload is T typed ? typed : throw new ClusterTransportException($"the coordinator answered {message.Descriptor.Name} with {reply.Envelope.Type}, expected {typeof(T).Name}");
    }

    // ---- entities ----------------------------------------------------------------------------------------------

    /// <summary>Sends <paramref name="message"/> to entity <paramref name="entityId"/> of <paramref name="entityType"/>:
    /// into its shard's durable queue. A reply, if the entity gives one, goes to this client's reply queue.</summary>
    public async Task TellEntityAsync(string entityType, string entityId, IMessage message, string? messageId = null, CancellationToken ct = default)
    {
        var envelope = EnvelopeCodec.WrapForEntity(message, entityType, entityId, Settings.ShardCount, SenderId, ReplyQueue, messageId);
        await EnsureShardAsync(entityType, envelope.ShardId, ct).ConfigureAwait(false);
        await PublishAsync("", Broker.Topology.ShardQueue(entityType, envelope.ShardId), envelope, persistent: true, ct).ConfigureAwait(false);
    }

    /// <summary>Sends to an entity and waits for its reply. The message id is the idempotency key: pass the same id when
    /// asking again for the same work.</summary>
    public async Task<InboundMessage> AskEntityAsync(string entityType, string entityId, IMessage message, TimeSpan timeout, string? messageId = null,
        CancellationToken ct = default)
    {
        var envelope = EnvelopeCodec.WrapForEntity(message, entityType, entityId, Settings.ShardCount, SenderId, ReplyQueue, messageId);
        await EnsureShardAsync(entityType, envelope.ShardId, ct).ConfigureAwait(false);
        return await AskAsync(envelope, "", Broker.Topology.ShardQueue(entityType, envelope.ShardId), timeout, ct).ConfigureAwait(false);
    }

    /// <summary>Declares the shard's queue (once) and asks the coordinator for its home, which allocates it (Akka's
    /// GetShardHome; the answer updates <see cref="ShardHomes"/>).</summary>
    public async Task EnsureShardAsync(string entityType, int shard, CancellationToken ct = default)
    {
        var key = (entityType, shard);
        var declared = _declared.GetOrAdd(key, k => DeclareShardAsync(k.Type, k.Shard, ct));
        try
        {
            await declared.ConfigureAwait(false);
        }
        catch
        {
            _declared.TryRemove(KeyValuePair.Create(key, declared)); // the next use tries again
            throw;
        }
    }

    private async Task DeclareShardAsync(string entityType, int shard, CancellationToken ct)
    {
        await Broker.DeclareAsync(ch => Broker.Topology.DeclareShardAsync(ch, entityType, shard, ct), ct).ConfigureAwait(false);
        await TellCoordinatorAsync(new GetShardHome { EntityType = entityType, Shard = shard }, ct: ct).ConfigureAwait(false);
    }

    /// <summary>Forgets a shard's cached home (on BeginHandOff); the next use asks the coordinator again.</summary>
    internal void ForgetHome(string entityType, int shard)
    {
        _homes.TryRemove((entityType, shard), out _);
        _declared.TryRemove((entityType, shard), out _);
    }

    // ---- nodes and replies -------------------------------------------------------------------------------------

    /// <summary>Sends <paramref name="message"/> to node <paramref name="nodeId"/>'s queue; false when that queue no longer
    /// exists (the node is gone and its queue expired).</summary>
    public async Task<bool> SendToNodeAsync(string nodeId, IMessage message, string? correlationId = null, bool persistent = true, CancellationToken ct = default)
    {
        try
        {
            await PublishAsync("", Broker.Topology.NodeQueue(nodeId), EnvelopeCodec.Wrap(message, SenderId, ReplyQueue, correlationId), persistent, ct).ConfigureAwait(false);
            return true;
        }
        catch (ClusterTransportException ex) when (ex.InnerException is RabbitMQ.Client.Exceptions.PublishException { IsReturn: true })
        {
            return false;
        }
    }

    /// <summary>Answers <paramref name="request"/> at its reply queue (no-op when it has none or the queue is gone).</summary>
    public async Task ReplyAsync(InboundMessage request, IMessage reply, CancellationToken ct = default)
    {
        var to = request.Envelope.ReplyTo;
        if (to.Length == 0) return;
        try
        {
            var envelope = EnvelopeCodec.Wrap(reply, SenderId, ReplyQueue, request.Envelope.MessageId);
            await PublishAsync("", to, envelope, persistent: true, ct).ConfigureAwait(false);
        }
        catch (ClusterTransportException ex) when (ex.InnerException is RabbitMQ.Client.Exceptions.PublishException { IsReturn: true })
        {
            // The requester is gone (its private queue was deleted with its connection); nobody waits for this reply.
        }
    }

    private async Task<InboundMessage> AskAsync(ClusterEnvelope envelope, string exchange, string routingKey, TimeSpan timeout, CancellationToken ct)
    {
        var waiter = new TaskCompletionSource<InboundMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[envelope.MessageId] = waiter;
        try
        {
            await PublishAsync(exchange, routingKey, envelope, persistent: true, ct).ConfigureAwait(false);
            return await waiter.Task.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no reply to {envelope.Type} {envelope.MessageId} ({(envelope.EntityId.Length > 0 ? "entity " + envelope.EntityId : routingKey)}) within {timeout.TotalSeconds} s");
        }
        finally
        {
            _pending.TryRemove(envelope.MessageId, out _);
        }
    }

    private Task PublishAsync(string exchange, string routingKey, ClusterEnvelope envelope, bool persistent, CancellationToken ct)
    {
        var properties = new BasicProperties
        {
            MessageId = envelope.MessageId,
            Type = envelope.Type,
            CorrelationId = envelope.CorrelationId.Length > 0 ? envelope.CorrelationId : null,
        };
        return Broker.PublishAsync(exchange, routingKey, envelope.ToByteArray(), properties, persistent, ct);
    }

    /// <summary>Shard of <paramref name="entityId"/> under this cluster's shard count.</summary>
    public int ShardOf(string entityId) => ShardHash.ShardOf(new EntityId(entityId), Settings.ShardCount).Value;

    public async ValueTask DisposeAsync()
    {
        if (_replies is not null) await _replies.StopAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        if (_ownsBroker) await Broker.DisposeAsync().ConfigureAwait(false);
    }
}
