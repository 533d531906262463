using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>A message addressed to one entity; the region delivers <paramref name="Message"/> to it.</summary>
public sealed record ShardingEnvelope(EntityId EntityId, object Message);
