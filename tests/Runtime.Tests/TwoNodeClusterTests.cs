using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Offload.Protocol.Messages;
using Xunit;
using Xunit.Abstractions;

namespace Offload.Runtime.Tests;

public sealed class TwoNodeClusterTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Ask = TimeSpan.FromSeconds(10);
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Two_runtimes_form_a_cluster_and_an_entity_on_the_other_node_answers()
    {
        var clock = Stopwatch.StartNew();
        await using var a = await OffloadRuntime.StartAsync(_folder.Settings());
        var aUp = clock.Elapsed;
        await using var b = await OffloadRuntime.StartAsync(_folder.Settings(a.SelfAddress.ToString()));
        var formed = clock.Elapsed;
        Assert.Equal(MemberStatus.Up, b.Cluster.SelfMember.Status);

        // Node b reports more free device memory: every shard goes there, whichever node asks.
        long Free(Address node) => node == b.SelfAddress ? 24L << 30 : 1L << 30;
        async Task<IActorRef> Region(OffloadRuntime n) => await ClusterSharding.Get(n.System).StartAsync(
            LayerEchoEntity.TypeName, Props.Create<LayerEchoEntity>(), ClusterShardingSettings.Create(n.System),
            LayerEchoEntity.Extractor, new FreeMemoryAllocationStrategy(Free), PoisonPill.Instance);
        var regionA = await Region(a);
        await Region(b);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await regionA.Ask<CurrentRegions>(GetCurrentRegions.Instance, Ask)).Regions.Count < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "node b's region did not register with the coordinator");
            await Task.Delay(50);
        }

        var first = await regionA.Ask<LayerDone>(LayerEchoEntity.Run("job-2", 0), Ask);
        Assert.Equal(b.SelfAddress.ToString(), first.NodeId);
        Assert.Equal("job-2/in/0", Assert.Single(first.Outputs).Id);
        var working = clock.Elapsed;

        // Ask round trip a → entity on b → a: warm up, then time sequential asks.
        var message = LayerEchoEntity.Run("job-2", 1);
        for (var i = 0; i < 200; i++) await regionA.Ask<LayerDone>(message, Ask);
        const int n = 2000;
        var ms = new double[n];
        for (var i = 0; i < n; i++)
        {
            var t = Stopwatch.GetTimestamp();
            var done = await regionA.Ask<LayerDone>(message, Ask);
            ms[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            Assert.Equal(1, done.Layer);
        }
        Array.Sort(ms);
        output.WriteLine($"node a Up at {aUp.TotalSeconds:0.00} s, node b Up (2-node cluster) at {formed.TotalSeconds:0.00} s, first remote answer at {working.TotalSeconds:0.00} s");
        output.WriteLine($"ask round trip to a sharded entity on the other node ({n} sequential asks, RunLayer → LayerDone over MessagePack): " +
                         $"p50 {ms[n / 2]:0.000} ms, p99 {ms[n * 99 / 100]:0.000} ms, max {ms[^1]:0.000} ms");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"took {clock.Elapsed.TotalSeconds:0.0} s");
    }
}
