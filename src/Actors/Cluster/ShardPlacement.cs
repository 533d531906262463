using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>
/// Where a shard goes (the cluster form of <see cref="Sharding.MostFreeMemoryAllocationStrategy"/>): the Up worker
/// with the most projected free device memory, projected(m) = Σ free bytes of m's devices − shards(m) × shardMemoryBytes;
/// ties go to the member with fewer shards, then to the lower node id. Leaving, down and removed members never get a shard.
/// </summary>
public static class ShardPlacement
{
    /// <summary>The node id to allocate to, or null when no Up worker exists.</summary>
    public static string? Choose(IEnumerable<Member> members, Func<string, int> shardCount, long shardMemoryBytes, IReadOnlyDictionary<string, long>? freeBytes = null)
    {
        string? best = null;
        long bestProjected = 0;
        var bestShards = 0;
        foreach (var m in members)
        {
            if (m.Status != MemberStatus.Up || !m.Roles.Contains(ClusterRoles.Worker)) continue;
            var free = freeBytes is not null && freeBytes.TryGetValue(m.NodeId, out var f) ? f : m.Devices.Sum(d => d.FreeBytes);
            var shards = shardCount(m.NodeId);
            var projected = free - shards * shardMemoryBytes;
            var better = best is null
                || projected > bestProjected
                || (projected == bestProjected && shards < bestShards)
                || (projected == bestProjected && shards == bestShards && string.CompareOrdinal(m.NodeId, best) < 0);
            if (!better) continue;
            best = m.NodeId;
            bestProjected = projected;
            bestShards = shards;
        }
        return best;
    }
}
