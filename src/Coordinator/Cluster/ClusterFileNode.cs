using Offload.Protocol;

namespace Offload.Coordinator.Cluster;

/// <summary>One node of a cluster file: its id and roles, its devices and their memory budget, its data-plane endpoint.</summary>
public sealed record ClusterFileNode(string Id, IReadOnlyList<string> Roles, IReadOnlyList<DeviceId> Devices, long DeviceMemoryBytes,
    string DataPlaneBind, int DataPlanePort, string DataPlaneHost)
{
    public const long DefaultDeviceMemory = 1L << 30;
}
