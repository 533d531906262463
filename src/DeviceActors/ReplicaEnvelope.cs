using System.Diagnostics;

namespace Offload.DeviceActors;

/// <summary>
/// A message for the <see cref="LayerShard"/> replica <paramref name="EntityId"/> ("{part}@{device}"), sent through the
/// shard region, with the trace context of the sender's span (<paramref name="Parent"/>; default = none) so the
/// replica's message span is its child although the message passed through the region and the shard.
/// </summary>
public sealed record ReplicaEnvelope(string EntityId, object Message, ActivityContext Parent = default);
