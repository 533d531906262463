namespace Offload.Coordinator.Cluster;

/// <summary>Where one layer ran: the node, the attempt that succeeded, the driver's wall time and the node's compute time.</summary>
public sealed record ClusterLayerPlacement(int Layer, string NodeId, int Attempt, TimeSpan Wall, TimeSpan Compute);
