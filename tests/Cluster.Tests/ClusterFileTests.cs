using Offload.Actors.Cluster;
using Offload.Coordinator.Cluster;
using Offload.Protocol;
using Offload.Tests.Shared;

namespace Offload.Cluster.Tests;

public sealed class ClusterFileTests
{
    private static string ConfigFile(string name) => Path.Combine(SharedData.RepoRoot, "cluster-config", name);

    [Fact]
    public void The_documented_defaults_in_settings_yaml_are_the_defaults_of_the_code()
    {
        var file = ClusterFile.Load(ConfigFile("settings.yaml"));
        var defaults = new ClusterSettings();
        var s = file.Settings;
        Assert.Equal(defaults.ClusterName, s.ClusterName);
        Assert.Equal(defaults.ShardCount, s.ShardCount);
        Assert.Equal(defaults.QueueType, s.QueueType);
        Assert.Equal(defaults.ShardMemoryBytes, s.ShardMemoryBytes);
        Assert.Equal(defaults.BrokerUris, s.BrokerUris);
        Assert.Equal(defaults.PublishTimeout, s.PublishTimeout);
        Assert.Equal(defaults.HeartbeatInterval, s.HeartbeatInterval);
        Assert.Equal(defaults.DownAfterMissedHeartbeats, s.DownAfterMissedHeartbeats);
        Assert.Equal(defaults.RetryInterval, s.RetryInterval);
        Assert.Equal(defaults.HandOffTimeout, s.HandOffTimeout);
        Assert.Equal(defaults.ShardPrefetch, s.ShardPrefetch);
        Assert.Equal(defaults.MaxHandlerAttempts, s.MaxHandlerAttempts);
        Assert.Equal(defaults.DedupCapacity, s.DedupCapacity);
        Assert.Equal(defaults.NodeQueueExpiry, s.NodeQueueExpiry);
        Assert.Equal(ClusterFile.DefaultLayerTimeout, file.LayerTimeout);
        Assert.Equal("127.0.0.1", file.DriverBind);
        var node = Assert.Single(file.Nodes);
        Assert.Equal([ClusterRoles.Coordinator, ClusterRoles.Worker], node.Roles);
        Assert.Equal([new DeviceId(DeviceKind.Cpu, 0)], node.Devices);
        Assert.Equal(ClusterFileNode.DefaultDeviceMemory, node.DeviceMemoryBytes);
        Assert.Equal(0, node.DataPlanePort);
    }

    [Fact]
    public void The_local_three_node_example_names_three_nodes_with_both_roles()
    {
        var file = ClusterFile.Load(ConfigFile("local-3node.yaml"));
        Assert.Equal(["node-1", "node-2", "node-3"], file.Nodes.Select(n => n.Id));
        Assert.Equal(TimeSpan.FromMilliseconds(500), file.Settings.HeartbeatInterval);
        var (settings, node) = file.ForNode("node-2");
        Assert.Equal("node-2", settings.NodeId);
        Assert.True(settings.IsCoordinator && settings.IsWorker);
        Assert.Equal(7102, node.DataPlanePort);
        Assert.Equal(256L << 20, node.DeviceMemoryBytes);
        var ex = Assert.Throws<ClusterConfigurationException>(() => file.ForNode(null));
        Assert.Contains("--node", ex.Message);
    }

    [Theory]
    [InlineData("membership: { heartbeat-intervall: 1s }", "membership.heartbeat-intervall is not a setting")]
    [InlineData("membership: { heartbeat-interval: 1 week }", "has the unit 'week'")]
    [InlineData("cluster: { shard-count: 0 }", "ShardCount must be in [1, 100000], got 0")]
    [InlineData("cluster: { queue-type: mirrored }", "cluster.queue-type is 'mirrored'; use one of auto, classic, quorum")]
    [InlineData("nodes: [ { roles: [worker] } ]", "nodes[0].id is required")]
    [InlineData("nodes: [ { id: a, devices: [tpu:0] } ]", "nodes[0].devices has 'tpu:0'")]
    [InlineData("broker: { uris: [\"http://x/\"] }", "is not amqp://")]
    public void A_bad_setting_is_named_with_the_file_and_the_fix(string yaml, string expected)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cluster-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        try
        {
            var ex = Assert.Throws<ClusterConfigurationException>(() => ClusterFile.Load(path));
            Assert.StartsWith(path, ex.Message);
            Assert.Contains(expected, ex.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
