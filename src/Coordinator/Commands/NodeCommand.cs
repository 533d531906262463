using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Offload.Actors;
using Offload.Actors.Cluster;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Job;
using Offload.Coordinator.Telemetry;
using Offload.DeviceActors;
using Offload.DeviceActors.Cluster;
using Offload.DeviceActors.DataPlane;
using Offload.Protocol.Cluster;

namespace Offload.Coordinator.Commands;

/// <summary>
/// `offload node --cluster FILE [--node ID]`: one cluster member with its devices. It joins, hosts the layer shards
/// the coordinator gives it (worker role), stands by as the coordinator singleton (coordinator role) and serves its
/// tensors on HTTP/2. SIGTERM or Ctrl+C leaves gracefully (its shards are handed off first); a node the coordinator
/// declared down exits with code 1.
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var cluster = new Option<string>("--cluster") { Description = "cluster file (see cluster-config/settings.yaml)", Required = true };
        var node = new Option<string?>("--node") { Description = "which node of the file this process is (needed when the file lists several)" };
        var verbose = new Option<bool>("--verbose") { Description = "log debug lines too" };
        var cmd = new Command("node",
            "Run one cluster node: join, host layer shards, stand by as coordinator, serve tensors over HTTP/2; SIGTERM or Ctrl+C leaves gracefully\n" +
            "(its shards are handed off first, exit 0); a node the coordinator declared down exits 1. See cluster-config/README.md.")
        {
            cluster, node, verbose,
        };
        cmd.WithExamples("offload node --cluster cluster-config/local-3node.yaml --node node-1");
        TelemetrySession.AddOptions(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            using var telemetry = TelemetrySession.Start(parse);
            return await RunAsync(parse.GetValue(cluster)!, parse.GetValue(node), parse.GetValue(verbose), ct);
        });
        return cmd;
    }

    public static async Task<int> RunAsync(string clusterPath, string? nodeId, bool verbose, CancellationToken ct)
    {
        var file = ClusterFile.Load(clusterPath);
        var (settings, me) = file.ForNode(nodeId);
        using var loggers = StderrLoggerProvider.Factory(verbose ? LogLevel.Debug : LogLevel.Information, $"[{me.Id}] ");
        using var system = ActorSystem.Create("node-" + me.Id, new ActorSystemOptions { LoggerFactory = loggers });
        // The devices and their layer replicas are Akka.NET actors in a local system of their own.
        var deviceSystem = global::Offload.Runtime.LocalActorSystem.Create("node-devices");
        await using var stopDevices = new AsyncStop(deviceSystem);
        var devices = me.Devices.Select(d => DeviceClient.Start(deviceSystem, new DeviceOptions(d, me.DeviceMemoryBytes))).ToList();
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store, me.DataPlaneBind, me.DataPlanePort, me.DataPlaneHost, loggers, ct);
        using var pulls = new TensorClient();
        using var host = new LayerWorkHost(me.Id, devices, store, pulls, ClusterJobModifiers.Listeners)
        {
            Point = JobKillSwitch.Reached, Log = Console.Out, Hooks = ClusterJobModifiers.Hooks,
        };
        IReadOnlyList<DeviceInventory> Inventory() => devices.Select(d => new DeviceInventory
        {
            Device = d.Device.ToString(),
            MemoryBytes = d.BudgetBytes,
            FreeBytes = d.BudgetBytes - d.Memory.ResidentBytes,
        }).ToList();

        var leave = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; leave.TrySetResult(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; leave.TrySetResult(); });
        await using var clusterNode = await ClusterNode.StartAsync(new ClusterNodeOptions(settings)
        {
            EntityTypes = settings.IsWorker ? [host.EntityType] : [],
            Devices = Inventory,
            DataPlaneUrl = server.BaseUri.ToString(),
            LoggerFactory = loggers,
            System = system,
        }, ct);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv,
            $"node {me.Id} started: roles {string.Join(",", settings.Roles)}, devices {string.Join(",", me.Devices)} × {ByteSize.Format(me.DeviceMemoryBytes)}, data plane {server.BaseUri}, cluster '{settings.ClusterName}' on {string.Join(", ", settings.BrokerUris.Select(u => u.Host + ":" + u.Port))}"));
        var joined = await Task.WhenAny(clusterNode.Joined, clusterNode.Downed, leave.Task, Task.Delay(Timeout.Infinite, ct));
        if (joined == clusterNode.Joined) Console.WriteLine($"node {me.Id} is up (coordinator {clusterNode.Joined.Result.CoordinatorNode}, epoch {clusterNode.Joined.Result.CoordinatorEpoch})");

        var ended = await Task.WhenAny(clusterNode.Downed, leave.Task, Task.Delay(Timeout.Infinite, ct));
        if (ended == clusterNode.Downed)
        {
            Console.Error.WriteLine($"offload: node {me.Id} was declared down by the coordinator ({clusterNode.Downed.Result}); restart it to rejoin");
            return CliRunner.RunFailure;
        }
        Console.WriteLine($"node {me.Id} leaving: handing off {clusterNode.HostedShards.Count} shard(s)");
        var left = await clusterNode.LeaveAsync(settings.HandOffTimeout * 2, CancellationToken.None);
        Console.WriteLine(left ? $"node {me.Id} left the cluster" : $"node {me.Id} stops without a completed leave (no coordinator answered)");
        return left ? CliRunner.Success : CliRunner.RunFailure;
    }

    /// <summary>Terminates the devices' actor system when the node's run ends.</summary>
    private sealed class AsyncStop(Akka.Actor.ActorSystem system) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => new(system.Terminate());
    }
}
