using System.CommandLine;
using System.Runtime.InteropServices;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Telemetry;
using Offload.DeviceActors;

namespace Offload.Coordinator.Commands;

/// <summary>
/// `offload node --cluster FILE --node ID`: one member of an Akka.NET cluster with its devices. It joins the seed nodes,
/// hosts the layer entities the shard region gives it (worker role), stands by as the coordinator singleton
/// (coordinator role) and serves its tensors on HTTP/2. SIGTERM or Ctrl+C leaves gracefully (its shards are handed off,
/// the singleton handed over; exit 0); a node the others downed stops at once and exits 1.
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var cluster = new Option<string>("--cluster") { Description = "cluster file (see cluster-config/settings.yaml)", Required = true };
        var node = new Option<string?>("--node") { Description = "which node of the file this process is (needed when the file lists several)" };
        var cmd = new Command("node",
            "Run one cluster node: join the seeds, host layer entities, stand by as coordinator, serve tensors over HTTP/2; SIGTERM or Ctrl+C\n" +
            "leaves gracefully (exit 0); a node the others downed exits 1. See cluster-config/README.md.")
        {
            cluster, node,
        };
        cmd.WithExamples("offload node --cluster cluster-config/local-3node.yaml --node node-1");
        TelemetrySession.AddOptions(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            using var telemetry = TelemetrySession.Start(parse);
            return await RunAsync(parse.GetValue(cluster)!, parse.GetValue(node), ct);
        });
        return cmd;
    }

    public static async Task<int> RunAsync(string clusterPath, string? nodeId, CancellationToken ct)
    {
        var file = ClusterFile.Load(clusterPath);
        var me = file.ForNode(nodeId);
        var leave = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; leave.TrySetResult(); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; leave.TrySetResult(); });
        var log = TextWriter.Synchronized(Console.Out);
        var services = await NodeServices.StartAsync(file, me, log, ct);
        log.WriteLine($"node {me.Id} is up at {services.Runtime.SelfAddress}: roles {string.Join(",", me.Roles)}, devices {string.Join(",", me.Devices)} × {ByteSize.Format(me.DeviceMemoryBytes)}, data plane {services.DataPlane}");
        var ended = await Task.WhenAny(services.Removed, leave.Task, Task.Delay(Timeout.Infinite, ct));
        if (ended == services.Removed)
        {
            Console.Error.WriteLine($"offload: node {me.Id} was downed by the cluster (unreachable too long); it stopped its work — restart it to rejoin");
            // Do not run anything more of this process: the cluster has redone or will redo its work elsewhere.
            services.DropLocalState();
            Environment.Exit(CliRunner.RunFailure);
        }
        log.WriteLine($"node {me.Id} leaving");
        await services.DisposeAsync();
        log.WriteLine($"node {me.Id} left the cluster");
        return CliRunner.Success;
    }
}
