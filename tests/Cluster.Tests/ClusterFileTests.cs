using Offload.Coordinator.Cluster;
using Offload.Protocol;
using Offload.Runtime;
using Offload.Tests.Shared;

namespace Offload.Cluster.Tests;

public sealed class ClusterFileTests
{
    private static string ConfigFile(string name) => Path.Combine(SharedData.RepoRoot, "cluster-config", name);

    [Fact]
    public void The_documented_defaults_in_settings_yaml_are_the_defaults_of_the_code()
    {
        var file = ClusterFile.Load(ConfigFile("settings.yaml"));
        var defaults = new RuntimeSettings();
        Assert.Equal("offload", file.Name);
        Assert.Equal(["127.0.0.1:7001"], file.Seeds);
        Assert.Null(file.PostgresJournal);
        Assert.Equal(ClusterFile.DefaultSqliteJournal("offload"), file.SqliteJournal);
        Assert.Equal(defaults.HeartbeatInterval, file.HeartbeatInterval);
        Assert.Equal(defaults.AcceptableHeartbeatPause, file.AcceptableHeartbeatPause);
        Assert.Equal(defaults.StableAfter, file.StableAfter);
        Assert.Equal("127.0.0.1", file.ClientHost);
        Assert.Equal(0, file.ClientPort);
        var node = Assert.Single(file.Nodes);
        Assert.Equal([ClusterFile.CoordinatorRole, ClusterFile.WorkerRole], node.Roles);
        Assert.Equal([new DeviceId(DeviceKind.Cpu, 0)], node.Devices);
        Assert.Equal(ClusterFileNode.DefaultDeviceMemory, node.DeviceMemoryBytes);
        Assert.Equal(("127.0.0.1", 7001, 0), (node.Host, node.Port, node.DataPlanePort));
    }

    [Fact]
    public void The_local_three_node_example_names_three_seeded_nodes_with_both_roles()
    {
        var file = ClusterFile.Load(ConfigFile("local-3node.yaml"));
        Assert.Equal(["node-1", "node-2", "node-3"], file.Nodes.Select(n => n.Id));
        Assert.Equal(["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"], file.Seeds);
        var node = file.ForNode("node-2");
        Assert.True(node.IsCoordinator && node.IsWorker);
        Assert.Equal((7002, 7102), (node.Port, node.DataPlanePort));
        Assert.Equal(256L << 20, node.DeviceMemoryBytes);
        var settings = file.Runtime(node, "x.log");
        Assert.Equal("local3", settings.SystemName);
        Assert.Equal(["akka.tcp://local3@127.0.0.1:7001", "akka.tcp://local3@127.0.0.1:7002", "akka.tcp://local3@127.0.0.1:7003"], settings.SeedNodes);
        Assert.False(settings.InMemoryJournal);
        var client = file.Runtime(null, "x.log");
        Assert.Equal([ClusterFile.ClientRole], client.Roles);
        Assert.True(client.InMemoryJournal);
        var ex = Assert.Throws<ClusterConfigurationException>(() => file.ForNode(null));
        Assert.Contains("--node", ex.Message);
    }

    [Theory]
    [InlineData("membership: { heartbeat-intervall: 1s }", "membership.heartbeat-intervall is not a setting")]
    [InlineData("membership: { heartbeat-interval: 1 week }", "has the unit 'week'")]
    [InlineData("broker: { uris: [x] }", "broker is not a setting")]
    [InlineData("cluster: { name: \"a b\" }", "cluster.name is 'a b'")]
    [InlineData("nodes: [ { roles: [worker], port: 1 } ]", "nodes[0].id is required")]
    [InlineData("nodes: [ { id: a } ]", "nodes[0].port is required")]
    [InlineData("nodes: [ { id: a, port: 1, devices: [tpu:0] } ]", "nodes[0].devices has 'tpu:0'")]
    [InlineData("nodes: [ { id: a, port: 1, roles: [boss] } ]", "nodes[0].roles has 'boss'")]
    [InlineData("nodes: [ { id: a, port: 1, roles: [worker] } ]", "no node with the coordinator role")]
    [InlineData("nodes: [ { id: a, port: 1 }, { id: b, port: 1 } ]", "127.0.0.1:1 is used by another node")]
    [InlineData("cluster: { seeds: [nohost] }\nnodes: [ { id: a, port: 1 } ]", "cluster.seeds has 'nohost', not host:port")]
    [InlineData("cluster: {}", "nodes lists no node")]
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
