using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Offload.Protocol;
using Offload.Protocol.Cluster;
using Offload.Protocol.Telemetry;

namespace Offload.Actors.Cluster;

/// <summary>
/// The hosting side of one entity type on one node (Akka's ShardRegion with its Shard children): for every shard
/// allocated here it consumes the shard's queue and delivers each message to the entity's actor (created on its
/// first message, in the node's <see cref="ActorSystem"/>); the message is acknowledged once the entity answered.
/// Stopping a shard (handoff, leave, down) cancels the consumer, waits for the messages in hand, and stops the
/// shard's entities; messages not finished by then go back to the queue for the shard's next home.
/// </summary>
internal sealed class ClusterShardRegion
{
    private readonly ClusterEntityType _type;
    private readonly ClusterClient _client;
    private readonly ActorSystem _system;
    private readonly ProcessedMessageIds _processed;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<int, HostedShard> _hosted = new();
    private readonly ConcurrentDictionary<int, long> _allocations = new();

    public ClusterShardRegion(ClusterEntityType type, ClusterClient client, ActorSystem system, ProcessedMessageIds processed, ILogger log)
    {
        _type = type;
        _client = client;
        _system = system;
        _processed = processed;
        _log = log;
    }

    public string TypeName => _type.Name;

    public IReadOnlyCollection<int> HostedShards => _hosted.Keys.OrderBy(s => s).ToArray();

    /// <summary>Starts consuming the shard's queue unless already hosting it or <paramref name="allocation"/> is older than one seen.</summary>
    public async Task<bool> HostAsync(int shard, long allocation, CancellationToken ct)
    {
        var seen = _allocations.GetOrAdd(shard, 0);
        if (allocation < seen) return false;
        _allocations[shard] = allocation;
        if (_hosted.ContainsKey(shard)) return true;
        var hosted = new HostedShard(shard);
        if (!_hosted.TryAdd(shard, hosted)) return true;
        var queue = _client.Broker.Topology.ShardQueue(_type.Name, shard);
        try
        {
            await _client.Broker.DeclareAsync(ch => _client.Broker.Topology.DeclareShardAsync(ch, _type.Name, shard, ct), ct).ConfigureAwait(false);
            hosted.Consumer = await QueueConsumer.StartAsync(_client.Broker, queue, (ushort)_client.Settings.ShardPrefetch, _client.Types, _processed,
                m => DeliverAsync(hosted, m), m => EnvelopeCodec.CheckShardAddress(m.Envelope, _type.Name, shard, _client.Settings.ShardCount), _log, ct: ct).ConfigureAwait(false);
        }
        catch
        {
            _hosted.TryRemove(KeyValuePair.Create(shard, hosted)); // the HostShard is redelivered and tried again
            throw;
        }
        ClusterLog.HostingShard(_log, _client.SenderId, _type.Name, shard, allocation);
        return true;
    }

    /// <summary>Stops hosting <paramref name="shard"/>: no new deliveries, up to <paramref name="drain"/> for those in hand,
    /// then its entities stop. False when the shard was not hosted here.</summary>
    public async Task<bool> StopAsync(int shard, TimeSpan drain, string reason)
    {
        if (!_hosted.TryRemove(shard, out var hosted)) return false;
        if (hosted.Consumer is not null) await hosted.Consumer.StopAsync(drain).ConfigureAwait(false);
        foreach (var entity in hosted.Entities.Values) _system.Stop(entity);
        ClusterLog.StoppedShard(_log, _client.SenderId, _type.Name, shard, reason);
        return true;
    }

    public async Task StopAllAsync(TimeSpan drain, string reason)
    {
        foreach (var shard in _hosted.Keys.ToList()) await StopAsync(shard, drain, reason).ConfigureAwait(false);
    }

    private Task DeliverAsync(HostedShard hosted, InboundMessage message)
    {
        var id = message.Envelope.EntityId;
        var entity = hosted.Entities.GetOrAdd(id, e => _system.ActorOf(_type.EntityProps(new EntityId(e)),
            $"{_type.Name}-{hosted.Shard}-{Uri.EscapeDataString(e)}-{Guid.NewGuid().ToString("N")[..6]}"));
        ActivityContext.TryParse(message.Envelope.Traceparent, message.Envelope.Tracestate, out var parent);
        var previous = Activity.Current;
        var span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.ClusterHandleSpan, ActivityKind.Consumer, parent);
        span?.SetTag(OffloadTelemetry.AttrMessageType, message.Envelope.Type);
        span?.SetTag(OffloadTelemetry.AttrEntityType, _type.Name);
        span?.SetTag(OffloadTelemetry.AttrShard, hosted.Shard);
        span?.SetTag(OffloadTelemetry.AttrNode, _client.SenderId);
        span?.SetTag(OffloadTelemetry.AttrRedelivered, message.Redelivered);
        // The Ask is sent while the span is current, so the entity's Context.TraceParent continues the sender's trace.
        object question = _type.ReceivesDeliveries ? new ClusterDelivery(message.Payload, message.Envelope, message.Redelivered) : message.Payload;
        var answer = entity.Ask<object>(question, Timeout.InfiniteTimeSpan);
        Activity.Current = previous; // the span ends when the entity answers, in CompleteAsync
        return CompleteAsync(message, answer, span);
    }

    private async Task CompleteAsync(InboundMessage message, Task<object> answer, Activity? span)
    {
        try
        {
            var reply = await answer.ConfigureAwait(false);
            if (reply is IMessage protobuf) await _client.ReplyAsync(message, protobuf).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            span?.SetStatus(ActivityStatusCode.Error, ex.Message);
            throw;
        }
        finally
        {
            span?.Dispose();
        }
    }

    private sealed class HostedShard(int shard)
    {
        public int Shard { get; } = shard;
        public QueueConsumer? Consumer { get; set; }
        public ConcurrentDictionary<string, IActorRef> Entities { get; } = new(StringComparer.Ordinal);
    }
}
