using Google.Protobuf;
using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>A delivery that decoded: its envelope, its parsed payload, the queue it came from, and whether the broker
/// delivered it before (to this or another consumer).</summary>
public sealed record InboundMessage(ClusterEnvelope Envelope, IMessage Payload, string Queue, bool Redelivered);
