using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using Akka.Event;
using Offload.Protocol.Messages;
using Xunit;

namespace Offload.Runtime.Tests;

public sealed class OneNodeRuntimeTests : IDisposable
{
    private static readonly TimeSpan Ask = TimeSpan.FromSeconds(10);
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_one_node_cluster_starts_on_a_free_port_and_runs_a_shard_region_and_a_singleton()
    {
        var clock = Stopwatch.StartNew();
        await using var node = await OffloadRuntime.StartAsync(_folder.Settings());
        var startSeconds = clock.Elapsed.TotalSeconds;

        Assert.True(node.Port > 0);
        Assert.Equal(node.Port, node.SelfAddress.Port);
        Assert.Equal("127.0.0.1", node.SelfAddress.Host);
        Assert.Equal(MemberStatus.Up, node.Cluster.SelfMember.Status);

        var asked = new ConcurrentQueue<Address>();
        var region = await ClusterSharding.Get(node.System).StartAsync(
            LayerEchoEntity.TypeName, Props.Create<LayerEchoEntity>(), ClusterShardingSettings.Create(node.System),
            LayerEchoEntity.Extractor, new FreeMemoryAllocationStrategy(a => { asked.Enqueue(a); return 1L << 30; }), PoisonPill.Instance);
        var done = await region.Ask<LayerDone>(LayerEchoEntity.Run("job-1", 3), Ask);
        Assert.Equal(3, done.Layer);
        Assert.Equal(node.SelfAddress.ToString(), done.NodeId);
        Assert.Equal([node.SelfAddress], asked.Distinct()); // the coordinator started the strategy: the local region is this node

        node.System.ActorOf(ClusterSingletonManager.Props(
            Props.Create<JobEchoSingleton>(), PoisonPill.Instance, ClusterSingletonManagerSettings.Create(node.System)), "coordinator");
        var proxy = node.System.ActorOf(ClusterSingletonProxy.Props("/user/coordinator", ClusterSingletonProxySettings.Create(node.System)));
        var accepted = await proxy.Ask<JobAccepted>(new SubmitJob(LayerEchoEntity.Run("job-9", 0).Spec), Ask);
        Assert.Equal(new JobAccepted("job-9", 3), accepted);

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"start {startSeconds:0.00} s, all {clock.Elapsed.TotalSeconds:0.00} s");
    }

    [Fact]
    public async Task Disposing_leaves_the_cluster_within_a_few_seconds()
    {
        var node = await OffloadRuntime.StartAsync(_folder.Settings());
        var clock = Stopwatch.StartNew();
        await node.DisposeAsync();
        Assert.True(node.System.WhenTerminated.IsCompleted);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"left in {clock.Elapsed.TotalSeconds:0.00} s");
        await node.DisposeAsync(); // idempotent
    }

    [Fact]
    public async Task No_answering_seed_is_one_clear_line_naming_the_seeds()
    {
        const string seed = "akka.tcp://offload@127.0.0.1:9";
        var settings = _folder.Settings(seed) with { JoinTimeout = TimeSpan.FromSeconds(2) };
        var e = await Assert.ThrowsAsync<ClusterJoinException>(() => OffloadRuntime.StartAsync(settings));
        Assert.Contains(seed, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public async Task Akka_warnings_go_to_the_log_file_not_the_terminal()
    {
        var console = Console.Out;
        var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {
            await using (var node = await OffloadRuntime.StartAsync(_folder.Settings()))
            {
                node.System.Log.Warning("offload-test-warning {0}", 42);
                node.System.Log.Info("offload-test-info");
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
                while (DateTime.UtcNow < deadline && !(File.Exists(_folder.LogFile) && ReadShared(_folder.LogFile).Contains("offload-test-warning 42")))
                    await Task.Delay(50);
            }
        }
        finally
        {
            Console.SetOut(console);
        }
        var log = ReadShared(_folder.LogFile);
        Assert.Contains("offload-test-warning 42", log);
        Assert.DoesNotContain("offload-test-info", log);
        Assert.DoesNotContain("offload-test-warning", captured.ToString());
    }

    [Fact]
    public void The_configuration_has_the_settings_the_design_asks_for()
    {
        var c = RuntimeConfig.Build(_folder.Settings("akka.tcp://offload@10.0.0.1:4053") with { Roles = ["worker"], Port = 4054 });
        Assert.Equal("cluster", c.GetString("akka.actor.provider"));
        Assert.Equal(4054, c.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.Equal(["akka.tcp://offload@10.0.0.1:4053"], c.GetStringList("akka.cluster.seed-nodes"));
        Assert.Equal(["worker"], c.GetStringList("akka.cluster.roles"));
        Assert.Equal("ddata", c.GetString("akka.cluster.sharding.state-store-mode"));
        Assert.False(c.GetBoolean("akka.cluster.sharding.remember-entities"));
        Assert.Equal("keep-majority", c.GetString("akka.cluster.split-brain-resolver.active-strategy"));
        Assert.Equal(TimeSpan.FromSeconds(2), c.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
        Assert.Equal(TimeSpan.FromSeconds(1), c.GetTimeSpan("akka.cluster.down-removal-margin"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), c.GetTimeSpan("akka.cluster.failure-detector.heartbeat-interval"));
        Assert.Equal(TimeSpan.FromMilliseconds(1500), c.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), c.GetTimeSpan("akka.cluster.sharding.retry-interval"));
        Assert.Equal(TimeSpan.FromMilliseconds(300), c.GetTimeSpan("akka.cluster.singleton.hand-over-retry-interval"));
        Assert.Equal(TimeSpan.FromSeconds(1), c.GetTimeSpan("akka.remote.retry-gate-closed-for"));
        Assert.Equal("WARNING", c.GetString("akka.loglevel"));
        Assert.Equal("SQLite.MS", c.GetString("akka.persistence.journal.sql.provider-name"));
        Assert.Equal("SQLite.MS", c.GetString("akka.persistence.snapshot-store.sql.provider-name"));
        Assert.Equal("Data Source=" + Path.Combine(_folder.Path, "journal.sqlite"), c.GetString("akka.persistence.journal.sql.connection-string"));

        var pg = RuntimeConfig.Build(_folder.Settings() with { PostgresConnectionString = "Host=db;Username=o;Password=\"p\\q\"" });
        Assert.Equal("PostgreSQL.15", pg.GetString("akka.persistence.journal.sql.provider-name"));
        Assert.Equal("Host=db;Username=o;Password=\"p\\q\"", pg.GetString("akka.persistence.snapshot-store.sql.connection-string"));
    }

    [Theory]
    [InlineData("127.0.0.1:4053", "not an address")]
    [InlineData("akka.tcp://offload@127.0.0.1", "a host and a port")]
    [InlineData("akka.tcp://other@127.0.0.1:4053", "belongs to system 'other'")]
    public async Task A_bad_seed_is_refused_before_anything_starts(string seed, string expected)
    {
        var e = await Assert.ThrowsAsync<RuntimeSettingsException>(() => OffloadRuntime.StartAsync(_folder.Settings(seed)));
        Assert.Contains(expected, e.Message);
        Assert.Contains(seed, e.Message);
        Assert.Throws<RuntimeSettingsException>(() => RuntimeConfig.Build(_folder.Settings() with { Port = 70000 }));
    }

    private static string ReadShared(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return new StreamReader(s).ReadToEnd();
    }
}
