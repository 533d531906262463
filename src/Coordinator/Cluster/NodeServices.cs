using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using Offload.Coordinator.Job;
using Offload.DeviceActors;
using Offload.DeviceActors.Cluster;
using Offload.DeviceActors.DataPlane;
using Offload.Runtime;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// One cluster node (`offload node`): the Akka.NET node with its roles, its devices, its data plane (HTTP/2 tensor
/// server + client), the shard region "layer-work" (entities on this node when it is a worker, a proxy otherwise), the
/// free-memory gossip its placement uses, and — on coordinator nodes — the coordinator singleton's manager
/// (<see cref="JobRegistry"/>). <see cref="DisposeAsync"/> leaves the cluster gracefully (shards handed off, the
/// singleton handed over) and stops the rest.
/// </summary>
public sealed class NodeServices : IAsyncDisposable
{
    /// <summary>The coordinator singleton's manager name ("/user/jobs").</summary>
    public const string CoordinatorName = "jobs";

    private readonly List<DeviceClient> _devices;
    private readonly TensorStore _store;
    private readonly TensorServer _server;
    private readonly TensorClient _pulls;
    private readonly LayerWorkHost _host;

    private NodeServices(ClusterFileNode node, OffloadRuntime runtime, List<DeviceClient> devices, TensorStore store, TensorServer server, TensorClient pulls, LayerWorkHost host)
    {
        Node = node;
        Runtime = runtime;
        _devices = devices;
        _store = store;
        _server = server;
        _pulls = pulls;
        _host = host;
        var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        runtime.Cluster.RegisterOnMemberRemoved(() =>
        {
            // Downed (or left): stop working at once — nothing is published or answered from now on.
            host.Downed = true;
            removed.TrySetResult();
        });
        Removed = removed.Task;
    }

    public ClusterFileNode Node { get; }

    public OffloadRuntime Runtime { get; }

    /// <summary>Completes when this node is no longer a member (downed by the others, or after leaving).</summary>
    public Task Removed { get; }

    /// <summary>The data plane's base URL.</summary>
    public Uri DataPlane => _server.BaseUri;

    /// <summary>Starts node <paramref name="node"/> of <paramref name="cluster"/>; completes when it is Up.</summary>
    public static async Task<NodeServices> StartAsync(ClusterFile cluster, ClusterFileNode node, TextWriter? log, CancellationToken ct = default)
    {
        var logFile = Path.Combine(Path.GetTempPath(), "offload", $"akka-{cluster.Name}-{node.Id}-{Environment.ProcessId}.log");
        var runtime = await OffloadRuntime.StartAsync(cluster.Runtime(node, logFile), ct).ConfigureAwait(false);
        var system = runtime.System;
        var devices = node.Devices.Select(d => DeviceClient.Start(system, new DeviceOptions(d, node.DeviceMemoryBytes))).ToList();
        var store = new TensorStore();
        var server = await TensorServer.StartAsync(store, node.DataPlaneBind, node.DataPlanePort, node.DataPlaneHost, null, ct).ConfigureAwait(false);
        var pulls = new TensorClient();
        var host = new LayerWorkHost(node.Id, devices, store, pulls, ClusterJobModifiers.Listeners)
        {
            Point = JobKillSwitch.Reached,
            Log = log,
            Hooks = ClusterJobModifiers.Hooks,
            StagingRoot = Path.Combine(Path.GetTempPath(), $"offload-node-{node.Id}-{Environment.ProcessId}"),
        };
        var services = new NodeServices(node, runtime, devices, store, server, pulls, host);

        // Every node's free device memory, shared through Distributed Data for the shard placement.
        var view = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        system.ActorOf(FreeMemoryGossip.Props(() => devices.Sum(d => d.BudgetBytes - d.Memory.ResidentBytes), view), "free-memory");
        var sharding = ClusterSharding.Get(system);
        IActorRef region;
        if (node.IsWorker)
        {
            region = await sharding.StartAsync(LayerWorkMessageExtractor.TypeName, host.EntityProps,
                ClusterShardingSettings.Create(system).WithRole(ClusterFile.WorkerRole), LayerWorkMessageExtractor.Instance,
                new FreeMemoryAllocationStrategy(a => FreeMemoryGossip.Lookup(view, a)), PoisonPill.Instance).ConfigureAwait(false);
        }
        else
        {
            region = await sharding.StartProxyAsync(LayerWorkMessageExtractor.TypeName, ClusterFile.WorkerRole, LayerWorkMessageExtractor.Instance).ConfigureAwait(false);
        }
        if (node.IsCoordinator)
        {
            var jobServices = new ClusterJobServices(node.Id, devices[0], store, pulls, region, log);
            system.ActorOf(ClusterSingletonManager.Props(JobRegistry.Props(jobServices), PoisonPill.Instance,
                ClusterSingletonManagerSettings.Create(system).WithRole(ClusterFile.CoordinatorRole)), CoordinatorName);
        }
        return services;
    }

    /// <summary>After this node was downed: closes the jobs' checkpoints and deletes its staging folder, without leaving
    /// (there is no cluster to leave).</summary>
    public void DropLocalState() => _host.Dispose();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Runtime.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _host.Dispose();
            _pulls.Dispose();
            await _server.DisposeAsync().ConfigureAwait(false);
            _store.Dispose();
            foreach (var d in _devices) d.FreeAll();
        }
    }
}
