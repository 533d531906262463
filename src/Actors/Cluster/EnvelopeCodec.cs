using System.Diagnostics;
using Google.Protobuf;
using Offload.Actors.Sharding;
using Offload.Protocol;
using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>
/// Builds and checks <see cref="ClusterEnvelope"/>s. Sending: the payload, a fresh message id, the sender, the
/// current W3C trace context. Receiving: every way a body can be wrong has its own one-line reason, which goes into
/// the dead-letter header.
/// </summary>
public static class EnvelopeCodec
{
    /// <summary>An envelope for <paramref name="payload"/> with a new message id and the current trace context.</summary>
    public static ClusterEnvelope Wrap(IMessage payload, string sender, string? replyTo = null, string? correlationId = null, string? messageId = null)
    {
        var activity = Activity.Current;
        return new ClusterEnvelope
        {
            MessageId = messageId ?? Guid.NewGuid().ToString("N"),
            Sender = sender,
            ReplyTo = replyTo ?? "",
            CorrelationId = correlationId ?? "",
            ShardId = -1,
            Type = payload.Descriptor.FullName,
            Payload = payload.ToByteString(),
            Traceparent = activity?.Id ?? "",
            Tracestate = activity?.TraceStateString ?? "",
            SentUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        };
    }

    /// <summary>An envelope addressed to entity <paramref name="entityId"/> of <paramref name="entityType"/> (its shard by <see cref="ShardHash"/>).</summary>
    public static ClusterEnvelope WrapForEntity(IMessage payload, string entityType, string entityId, int shardCount, string sender,
        string? replyTo = null, string? messageId = null)
    {
        var envelope = Wrap(payload, sender, replyTo, messageId: messageId);
        envelope.EntityType = entityType;
        envelope.EntityId = entityId;
        envelope.ShardId = ShardHash.ShardOf(new EntityId(entityId), shardCount).Value;
        return envelope;
    }

    /// <summary>
    /// Parses a delivery body. On failure returns false and a reason: not an envelope, no message id, no type, an
    /// unknown type, a payload that does not parse as its type.
    /// </summary>
    public static bool TryUnwrap(ReadOnlyMemory<byte> body, ClusterMessageTypes types, out ClusterEnvelope envelope, out IMessage payload, out string reason)
    {
        envelope = null!;
        payload = null!;
        try
        {
            envelope = ClusterEnvelope.Parser.ParseFrom(body.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            reason = $"malformed: the body ({body.Length} bytes) is not a ClusterEnvelope ({ex.Message})";
            return false;
        }
        if (envelope.MessageId.Length == 0)
        {
            reason = "malformed: the envelope has no message_id";
            return false;
        }
        if (envelope.Type.Length == 0)
        {
            reason = $"malformed: envelope {envelope.MessageId} has no payload type";
            return false;
        }
        IMessage? parsed;
        try
        {
            if (!types.TryParse(envelope.Type, envelope.Payload, out parsed))
            {
                reason = $"unknown message type '{envelope.Type}' in envelope {envelope.MessageId}";
                return false;
            }
        }
        catch (InvalidProtocolBufferException ex)
        {
            reason = $"malformed: the payload of envelope {envelope.MessageId} is not a valid {envelope.Type} ({ex.Message})";
            return false;
        }
        payload = parsed!;
        reason = "";
        return true;
    }

    /// <summary>A reason when an envelope taken from the queue of shard <paramref name="shard"/> of <paramref name="entityType"/>
    /// does not belong there (no entity id, another type, a shard id that is not the hash of its entity id); null when it does.</summary>
    public static string? CheckShardAddress(ClusterEnvelope envelope, string entityType, int shard, int shardCount)
    {
        if (envelope.EntityId.Length == 0) return $"misaddressed: envelope {envelope.MessageId} ({envelope.Type}) in a shard queue has no entity_id";
        if (envelope.EntityType != entityType)
            return $"misaddressed: envelope {envelope.MessageId} is for entity type '{envelope.EntityType}', this queue holds '{entityType}'";
        var expected = ShardHash.ShardOf(new EntityId(envelope.EntityId), shardCount).Value;
        if (envelope.ShardId != expected || expected != shard)
            return $"misaddressed: entity '{envelope.EntityId}' belongs to shard {expected}; envelope {envelope.MessageId} says {envelope.ShardId} and sits in shard {shard}'s queue";
        return null;
    }
}
