using Akka.Actor;
using Akka.TestKit.Xunit2;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.DeviceActors.Tests;

public sealed class DeviceActorTests : TestKit
{
    /// <summary>Real-time bound for an asynchronous reply (a safety net, never a sleep).</summary>
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(20);

    private static readonly DeviceId Cpu1 = new(DeviceKind.Cpu, 1);

    private DeviceClient Start(long budget, double? bandwidth = null, ITransferDelay? delay = null) =>
        DeviceClient.Start(Sys, new DeviceOptions(Cpu1, budget) { BandwidthBytesPerSecond = bandwidth, Delay = delay });

    private static Tensor Floats(int n, int seed)
    {
        var rng = new Random(seed);
        var data = new float[n];
        for (var i = 0; i < n; i++) data[i] = (float)rng.NextDouble();
        return Tensor.FromArray(data, n);
    }

    private static List<(string, Tensor)> Sources(params (string Name, Tensor T)[] items) => items.Select(i => (i.Name, i.T.Share())).ToList();

    [Fact]
    public async Task Onload_of_host_tensors_shares_their_bytes_with_a_cpu_device_and_accounts_them()
    {
        // A CPU device's memory is host memory: a parameter already in host memory serves it without a second copy,
        // but the device's budget still counts it (the same accounting as a real copy).
        var dev = Start(budget: 4096);
        using var a = Floats(100, 1);
        using var b = Floats(28, 2);
        var expectedA = a.ToFloatArray();
        using var lease = await dev.OnloadAsync("layer-0", Sources(("a", a), ("b", b))).WaitAsync(Safety);
        Assert.Equal(Cpu1, lease["a"].Device);
        Assert.Same(a.Storage, lease["a"].Storage);
        Assert.Equal(expectedA, lease["a"].ToFloatArray());
        Assert.Equal(b.ToFloatArray(), lease["b"].ToFloatArray());
        a.Dispose(); // the device's reference keeps the bytes alive
        Assert.Equal(expectedA, lease["a"].ToFloatArray());
        var stats = await dev.StatsAsync().WaitAsync(Safety);
        Assert.Equal(4 * (100 + 28), stats.ResidentBytes);
        Assert.Equal(4 * (100 + 28), stats.PinnedBytes);
        Assert.Equal(4 * (100 + 28), stats.TransferredBytes);
    }

    [Fact]
    public async Task Onload_copies_a_memory_mapped_tensor_byte_for_byte_into_device_memory()
    {
        var path = Path.Combine(Path.GetTempPath(), $"offload-onload-{Guid.NewGuid():N}.bin");
        var values = Enumerable.Range(0, 300).Select(i => i * 0.25f - 7f).ToArray();
        File.WriteAllBytes(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        try
        {
            using var file = new Offload.Tensors.Storage.MappedFile(path);
            using var mapped = Tensor.FromMapped(file, 0, DType.F32, [300]);
            var dev = Start(budget: 4096);
            using var lease = await dev.OnloadAsync("layer-0", Sources(("w", mapped))).WaitAsync(Safety);
            Assert.Equal(Cpu1, lease["w"].Device);
            Assert.NotSame(mapped.Storage, lease["w"].Storage);
            Assert.Equal(Offload.Tensors.Storage.StorageKind.Native, lease["w"].Storage.Kind);
            Assert.Equal(values, lease["w"].ToFloatArray());
            Assert.Equal(values, mapped.ToFloatArray()); // the file's pages left the resident set, not the file
            var stats = await dev.StatsAsync().WaitAsync(Safety);
            Assert.Equal(4 * 300, stats.TransferredBytes);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Peak_equals_an_independent_sum_of_what_it_was_asked_to_hold()
    {
        var dev = Start(budget: 1000);
        using var w1 = Floats(100, 1); // 400 B
        using var w2 = Floats(60, 2);  // 240 B
        using var w3 = Floats(150, 3); // 600 B
        var l1 = await dev.OnloadAsync("l1", Sources(("w1", w1), ("w2", w2))).WaitAsync(Safety);   // 640 held
        var ws = await dev.ReserveAsync("#ws", "forward", 300).WaitAsync(Safety);               // 940 held
        l1.Dispose();
        // l2 needs 600: 940 − 600 evictable... LRU evicts w1 (400) then w2 (240) → 300 + 600 = 900.
        var l2 = await dev.OnloadAsync("l2", Sources(("w3", w3))).WaitAsync(Safety);
        var stats = await dev.StatsAsync().WaitAsync(Safety);
        Assert.Equal(940, stats.PeakBytes);      // 400 + 240 + 300, the largest set held at once
        Assert.Equal(900, stats.ResidentBytes);  // 300 + 600
        Assert.Equal(2, stats.Evictions);
        Assert.Equal(640, stats.EvictedBytes);
        l2.Dispose();
        ws.Dispose();
    }

    [Fact]
    public async Task Released_blocks_stay_cached_and_a_later_onload_is_a_hit()
    {
        var dev = Start(budget: 4096);
        using var a = Floats(64, 1);
        (await dev.OnloadAsync("l", Sources(("a", a))).WaitAsync(Safety)).Dispose();
        using var again = await dev.OnloadAsync("l", Sources(("a", a))).WaitAsync(Safety);
        var stats = await dev.StatsAsync().WaitAsync(Safety);
        Assert.Equal(1, stats.Transfers);
        Assert.Equal(1, stats.CacheHits);
        Assert.Equal(a.ToFloatArray(), again["a"].ToFloatArray());
    }

    [Fact]
    public async Task A_request_larger_than_the_budget_fails_with_the_bytes_needed_and_available()
    {
        var dev = Start(budget: 1000);
        using var big = Floats(300, 1); // 1200 B
        var ex = await Assert.ThrowsAsync<DeviceMemoryException>(() => dev.OnloadAsync("layer-7", Sources(("w", big))).WaitAsync(Safety));
        Assert.Equal(1200, ex.NeededBytes);
        Assert.Equal(1000, ex.AvailableBytes);
        Assert.Contains("layer-7", ex.Message);
        Assert.Contains("1200 bytes", ex.Message);
        Assert.Contains("1000 bytes", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public async Task Prefetches_wait_behind_demands_and_are_served_when_memory_frees()
    {
        var dev = Start(budget: 1000);
        using var a = Floats(150, 1); // 600
        using var b = Floats(150, 2); // 600
        using var c = Floats(50, 3);  // 200
        var la = await dev.OnloadAsync("a", Sources(("w", a))).WaitAsync(Safety);
        var pb = dev.OnloadAsync("b", Sources(("w", b)), prefetch: true);
        var dc = dev.OnloadAsync("c", Sources(("w", c)));
        var lc = await dc.WaitAsync(Safety); // the later demand overtakes the waiting prefetch
        await dev.StatsAsync().WaitAsync(Safety);
        Assert.False(pb.IsCompleted);
        la.Dispose();
        using var lb = await pb.WaitAsync(Safety);
        Assert.Equal(b.ToFloatArray(), lb["w"].ToFloatArray());
        var stats = await dev.StatsAsync().WaitAsync(Safety);
        Assert.True(stats.PeakBytes <= 1000);
        Assert.Equal(800, stats.ResidentBytes); // c (200) + b (600); a evicted
        lc.Dispose();
    }

    [Fact]
    public async Task A_waiting_demand_is_not_overtaken_by_a_prefetch_that_would_fit()
    {
        var dev = Start(budget: 1000);
        using var a = Floats(150, 1); // 600
        using var b = Floats(125, 2); // 500
        using var c = Floats(50, 3);  // 200
        var la = await dev.OnloadAsync("a", Sources(("w", a))).WaitAsync(Safety);
        var db = dev.OnloadAsync("b", Sources(("w", b)));                 // waits: 600 + 500 > 1000
        var pc = dev.OnloadAsync("c", Sources(("w", c)), prefetch: true); // would fit, but must not take b's memory
        await dev.StatsAsync().WaitAsync(Safety);
        Assert.False(db.IsCompleted);
        Assert.False(pc.IsCompleted);
        la.Dispose();
        using var lb = await db.WaitAsync(Safety);
        using var lc = await pc.WaitAsync(Safety);
        Assert.Equal(700, (await dev.StatsAsync().WaitAsync(Safety)).ResidentBytes);
    }

    [Fact]
    public async Task Transfers_run_off_the_actor_and_wait_bytes_over_bandwidth()
    {
        var gate = new GatedDelay();
        var dev = Start(budget: 1 << 20, bandwidth: 1000, delay: gate);
        using var a = Floats(250, 1); // 1000 B at 1000 B/s → 1 s simulated
        var pending = dev.OnloadAsync("a", Sources(("w", a)));
        var requested = await gate.Requested.Task.WaitAsync(Safety);
        // The transfer is parked in the delay, yet the actor answers: it does not block on copies.
        var stats = await dev.StatsAsync().WaitAsync(Safety);
        Assert.False(pending.IsCompleted);
        Assert.Equal(1000, stats.ResidentBytes);
        Assert.InRange(requested.TotalSeconds, 0.9, 1.0); // 1 s minus the (tiny) real copy time
        gate.Release.SetResult();
        using var lease = await pending.WaitAsync(Safety);
        Assert.Equal(a.ToFloatArray(), lease["w"].ToFloatArray());
    }

    [Fact]
    public async Task Drop_frees_the_unpinned_copies_of_an_owner()
    {
        var dev = Start(budget: 4096);
        using var a = Floats(64, 1);
        using var b = Floats(32, 2);
        (await dev.OnloadAsync("x", Sources(("a", a))).WaitAsync(Safety)).Dispose();
        using var keep = await dev.OnloadAsync("y", Sources(("b", b))).WaitAsync(Safety);
        Assert.Equal(256, await dev.DropAsync("x").WaitAsync(Safety));
        Assert.Equal(0, await dev.DropAsync("y").WaitAsync(Safety)); // pinned: stays
        Assert.Equal(128, (await dev.StatsAsync().WaitAsync(Safety)).ResidentBytes);
    }

    private sealed class GatedDelay : ITransferDelay
    {
        public TaskCompletionSource<TimeSpan> Requested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task WaitAsync(TimeSpan duration, CancellationToken cancellationToken = default)
        {
            Requested.TrySetResult(duration);
            await Release.Task.WaitAsync(cancellationToken);
        }
    }

    // ---- the actor's protocol, driven by a TestProbe ----------------------------------------------------------------

    [Fact]
    public void A_request_larger_than_the_whole_budget_fails_at_once_naming_the_device()
    {
        var dev = Start(budget: 1000);
        var probe = CreateTestProbe();
        probe.Send(dev.Actor, new DeviceActor.Reserve("layer-9", "forward", 2000));
        var failure = probe.ExpectMsg<Status.Failure>(Safety);
        var ex = Assert.IsType<DeviceMemoryException>(failure.Cause);
        Assert.Contains(Cpu1.ToString(), ex.Message);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void A_waiting_demand_is_served_before_an_earlier_prefetch_and_the_prefetch_waits_for_memory()
    {
        var dev = Start(budget: 1000);
        var probe = CreateTestProbe();
        probe.Send(dev.Actor, new DeviceActor.Reserve("#ws", "forward", 800));
        var held = probe.ExpectMsg<DeviceLease>(Safety);
        using var w = Floats(175, 1); // 700 B
        probe.Send(dev.Actor, new DeviceActor.Onload("prefetched", Sources(("w", w)), Prefetch: true));
        probe.Send(dev.Actor, new DeviceActor.Reserve("demanded", "forward", 400));
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // 200 B free: neither fits yet

        held.Dispose(); // 1000 B evictable: the demand (400) goes first; the prefetch (700) no longer fits beside it
        var demand = probe.ExpectMsg<DeviceLease>(Safety);
        Assert.Equal("demanded", demand.Owner);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        demand.Dispose();
        var prefetch = probe.ExpectMsg<DeviceLease>(Safety);
        Assert.Equal("prefetched", prefetch.Owner);
        Assert.Equal(w.ToFloatArray(), prefetch["w"].ToFloatArray());
        prefetch.Dispose();
    }

    [Fact]
    public void Drop_frees_the_unpinned_copies_of_one_owner_only()
    {
        var dev = Start(budget: 4096);
        var probe = CreateTestProbe();
        using var a = Floats(100, 1); // 400 B
        using var b = Floats(50, 2);  // 200 B
        probe.Send(dev.Actor, new DeviceActor.Onload("l0", Sources(("a", a)), Prefetch: false));
        probe.ExpectMsg<DeviceLease>(Safety).Dispose();
        probe.Send(dev.Actor, new DeviceActor.Onload("l1", Sources(("b", b)), Prefetch: false));
        probe.ExpectMsg<DeviceLease>(Safety).Dispose();
        probe.Send(dev.Actor, new DeviceActor.Drop("l0"));
        Assert.Equal(400, probe.ExpectMsg<DeviceActor.Dropped>(Safety).FreedBytes);
        probe.Send(dev.Actor, DeviceActor.GetStats.Instance);
        Assert.Equal(200, probe.ExpectMsg<DeviceStats>(Safety).ResidentBytes);
    }
}
