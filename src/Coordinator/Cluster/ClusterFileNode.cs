using Offload.Protocol;

namespace Offload.Coordinator.Cluster;

/// <summary>One node of a cluster file: its id, remoting endpoint and roles, its devices and their memory budget, its data-plane endpoint.</summary>
public sealed record ClusterFileNode(string Id, string Host, int Port, IReadOnlyList<string> Roles, IReadOnlyList<DeviceId> Devices, long DeviceMemoryBytes,
    string DataPlaneBind, int DataPlanePort, string DataPlaneHost)
{
    public const long DefaultDeviceMemory = 1L << 30;

    public bool IsCoordinator => Roles.Contains(ClusterFile.CoordinatorRole);

    public bool IsWorker => Roles.Contains(ClusterFile.WorkerRole);
}
