using Google.Protobuf;
using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>What an entity of a type registered with <see cref="ClusterEntityType.ReceivesDeliveries"/> receives instead of
/// the bare payload: the payload, its envelope (message id, sender, trace context) and whether the broker delivered it
/// before — true when the node that had it died or handed its shard off before answering, so the work is being redone.</summary>
public sealed record ClusterDelivery(IMessage Payload, ClusterEnvelope Envelope, bool Redelivered);
