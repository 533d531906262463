using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.DeviceActors.Tests;

public sealed class DeviceMemoryTests
{
    private static readonly DeviceId Cpu0 = new(DeviceKind.Cpu, 0);

    private static BlockKey K(string owner, string name) => new(owner, name);

    private static void Add(DeviceMemory m, BlockKey key, long bytes)
    {
        Assert.True(m.TryPinAndReserve([], [(key, bytes)]));
        m.CompleteReservation(key);
    }

    [Fact]
    public void Evicts_least_recently_used_unpinned_blocks_first()
    {
        var m = new DeviceMemory(Cpu0, 100);
        Add(m, K("a", "w"), 30);
        Add(m, K("b", "w"), 30);
        Add(m, K("c", "w"), 30);
        m.Unpin(K("b", "w")); // b released first → least recently used
        m.Unpin(K("a", "w"));
        // 90 resident; 40 more needs 30 freed: b goes, a stays.
        Assert.True(m.TryPinAndReserve([], [(K("d", "w"), 40)]));
        Assert.False(m.Contains(K("b", "w")));
        Assert.True(m.Contains(K("a", "w")));
        Assert.Equal(100, m.ResidentBytes);
        Assert.Equal(1, m.Evictions);
        Assert.Equal(30, m.EvictedBytes);
    }

    [Fact]
    public void Never_evicts_pinned_blocks_and_changes_nothing_when_it_cannot_fit()
    {
        var m = new DeviceMemory(Cpu0, 100);
        Add(m, K("a", "w"), 60);
        Add(m, K("b", "w"), 30);
        m.Unpin(K("b", "w"));
        Assert.False(m.TryPinAndReserve([], [(K("c", "w"), 50)])); // would need a's 60 pinned bytes
        Assert.True(m.Contains(K("b", "w")));
        Assert.Equal(90, m.ResidentBytes);
        Assert.Equal(0, m.Evictions);
    }

    [Fact]
    public void A_request_keeps_its_own_resident_blocks_while_making_room()
    {
        var m = new DeviceMemory(Cpu0, 100);
        Add(m, K("l", "a"), 50);
        Add(m, K("x", "w"), 40);
        m.Unpin(K("l", "a")); // l/a is now the LRU block
        m.Unpin(K("x", "w"));
        // Re-pinning l/a and adding l/b (10) needs no eviction; adding 50 would evict x, never l/a.
        Assert.True(m.TryPinAndReserve([K("l", "a")], [(K("l", "b"), 10)]));
        Assert.True(m.Contains(K("x", "w")));
        m.CompleteReservation(K("l", "b"));
        Assert.False(m.TryPinAndReserve([K("l", "a")], [(K("l", "c"), 50)]));
        Assert.True(m.TryPinAndReserve([K("l", "a")], [(K("l", "c"), 40)]));
        Assert.False(m.Contains(K("x", "w")));
        Assert.True(m.Contains(K("l", "a")));
    }

    [Fact]
    public void Resident_bytes_match_an_independent_ledger_and_never_exceed_the_budget()
    {
        const long budget = 1000;
        var m = new DeviceMemory(Cpu0, budget);
        var rng = new Random(7);
        // Independent model: the set of resident blocks with their sizes and pin counts.
        var model = new Dictionary<BlockKey, (long Bytes, int Pins)>();
        long modelPeak = 0;
        for (var step = 0; step < 2000; step++)
        {
            var key = K("o" + rng.Next(6), "t" + rng.Next(5));
            if (rng.Next(3) > 0)
            {
                var bytes = rng.Next(1, 300);
                if (model.ContainsKey(key))
                {
                    if (m.TryPinAndReserve([key], [])) model[key] = (model[key].Bytes, model[key].Pins + 1);
                }
                else
                {
                    var before = m.LruOrder().ToHashSet();
                    if (m.TryPinAndReserve([], [(key, bytes)]))
                    {
                        m.CompleteReservation(key);
                        foreach (var gone in before.Where(k => !m.Contains(k)))
                        {
                            Assert.Equal(0, model[gone].Pins); // only unpinned blocks may be evicted
                            model.Remove(gone);
                        }
                        model[key] = (bytes, 1);
                    }
                    else
                    {
                        long pinned = model.Values.Where(v => v.Pins > 0).Sum(v => v.Bytes);
                        Assert.True(pinned + bytes > budget, "a request that fits beside the pinned blocks was refused");
                    }
                }
            }
            else
            {
                var pinnedKeys = model.Where(kv => kv.Value.Pins > 0).Select(kv => kv.Key).ToList();
                if (pinnedKeys.Count == 0) continue;
                var k = pinnedKeys[rng.Next(pinnedKeys.Count)];
                m.Unpin(k);
                model[k] = (model[k].Bytes, model[k].Pins - 1);
            }
            var sum = model.Values.Sum(v => v.Bytes);
            modelPeak = Math.Max(modelPeak, sum);
            Assert.Equal(sum, m.ResidentBytes);
            Assert.True(m.ResidentBytes <= budget);
        }
        Assert.Equal(modelPeak, m.PeakBytes);
    }

    [Fact]
    public void Complete_rejects_a_copy_of_the_wrong_size()
    {
        var m = new DeviceMemory(Cpu0, 100);
        Assert.True(m.TryPinAndReserve([], [(K("a", "w"), 16)]));
        using var wrong = Tensor.Zeros(DType.F32, 3);
        Assert.Throws<InvalidOperationException>(() => m.Complete(K("a", "w"), wrong.Share()));
    }
}
