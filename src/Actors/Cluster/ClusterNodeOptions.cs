using Microsoft.Extensions.Logging;
using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>What a <see cref="ClusterNode"/> runs with besides its <see cref="ClusterSettings"/>.</summary>
public sealed record ClusterNodeOptions(ClusterSettings Settings)
{
    /// <summary>The sharded entity types this node can host (a worker) or send to.</summary>
    public IReadOnlyList<ClusterEntityType> EntityTypes { get; init; } = [];

    /// <summary>The node's devices and their free memory now (sent with Join and every heartbeat).</summary>
    public Func<IReadOnlyList<DeviceInventory>> Devices { get; init; } = () => [];

    /// <summary>Base URL of this node's tensor server (data plane), advertised to the cluster.</summary>
    public string DataPlaneUrl { get; init; } = "";

    /// <summary>Payload types beyond the cluster protocol's (an application's entity messages).</summary>
    public ClusterMessageTypes? MessageTypes { get; init; }

    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The actor system entities live in (a new one, terminated with the node, when null).</summary>
    public ActorSystem? System { get; init; }

    /// <summary>Clock of heartbeats and of the coordinator's failure detection.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>The app version advertised in Join (Akka's app-version).</summary>
    public string AppVersion { get; init; } = typeof(ClusterNode).Assembly.GetName().Version?.ToString() ?? "0";
}
