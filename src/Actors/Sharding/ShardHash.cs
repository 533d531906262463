using System.Buffers;
using System.Text;
using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// The stable entity → shard function: 32-bit FNV-1a over the UTF-8 bytes of the entity id, modulo a fixed shard
/// count. Unlike <see cref="string.GetHashCode()"/> it is the same in every process and every .NET version, so
/// nodes agree on where an entity lives.
/// </summary>
public static class ShardHash
{
    private const uint OffsetBasis = 2166136261;
    private const uint Prime = 16777619;

    public static uint Fnv1a32(ReadOnlySpan<byte> data)
    {
        var hash = OffsetBasis;
        foreach (var b in data)
        {
            hash ^= b;
            hash *= Prime;
        }
        return hash;
    }

    public static uint Fnv1a32(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (max <= 256)
        {
            Span<byte> small = stackalloc byte[max];
            return Fnv1a32(small[..Encoding.UTF8.GetBytes(text, small)]);
        }
        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            return Fnv1a32(rented.AsSpan(0, Encoding.UTF8.GetBytes(text, rented)));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Shard of <paramref name="entityId"/> among <paramref name="shardCount"/> shards.</summary>
    public static ShardId ShardOf(EntityId entityId, int shardCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        return new ShardId((int)(Fnv1a32(entityId.Value) % (uint)shardCount));
    }
}
