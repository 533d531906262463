namespace Offload.Coordinator.Cluster;

/// <summary>Where one layer of a cluster job ran (the node whose result was committed).</summary>
public sealed record ClusterLayerPlacement(int Layer, string NodeId);
