using System.Text;
using Offload.Actors.Sharding;
using Offload.Protocol;
using Xunit;

namespace Offload.Actors.Tests.Sharding;

public sealed class ShardHashTests
{
    [Theory]
    // Published FNV-1a 32-bit test vectors (Fowler/Noll/Vo reference test suite).
    [InlineData("", 0x811c9dc5u)]
    [InlineData("a", 0xe40c292cu)]
    [InlineData("foobar", 0xbf9cf968u)]
    public void Fnv1a32_matches_the_reference_vectors(string text, uint expected)
    {
        Assert.Equal(expected, ShardHash.Fnv1a32(text));
    }

    /// <summary>Slow reference: FNV-1a written out over the UTF-8 bytes, 64-bit arithmetic reduced mod 2^32.</summary>
    private static uint ReferenceFnv1a(string text)
    {
        ulong hash = 2166136261;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash = (hash * 16777619) % 4294967296UL;
        }
        return (uint)hash;
    }

    [Fact]
    public void ShardOf_is_the_reference_hash_modulo_the_shard_count_for_ascii_unicode_and_long_ids()
    {
        var ids = Enumerable.Range(0, 500).Select(i => $"layer/{i}")
            .Concat(["embed", "lm_head", "norm", "état/ß/層", new string('x', 1000)]);
        foreach (var id in ids)
        {
            foreach (var count in new[] { 1, 7, 64 })
            {
                Assert.Equal(new ShardId((int)(ReferenceFnv1a(id) % (uint)count)), ShardHash.ShardOf(new EntityId(id), count));
            }
        }
    }

    [Fact]
    public void The_extractor_unwraps_envelopes_and_rejects_a_shard_count_below_one()
    {
        var extractor = new StableHashMessageExtractor(16);
        var envelope = new ShardingEnvelope(new EntityId("layer/3"), "payload");
        Assert.Equal(new EntityId("layer/3"), extractor.GetEntityId(envelope));
        Assert.Equal("payload", extractor.GetEntityMessage(envelope));
        Assert.Null(extractor.GetEntityId("not an envelope"));
        Assert.Equal(new ShardId((int)(ReferenceFnv1a("layer/3") % 16)), extractor.GetShardId(new EntityId("layer/3")));
        var error = Assert.Throws<ShardingConfigurationException>(() => new StableHashMessageExtractor(0));
        Assert.IsAssignableFrom<OffloadException>(error);
        Assert.DoesNotContain('\n', error.Message);
    }
}
