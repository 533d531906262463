using Offload.Protocol;

namespace Offload.Coordinator.Cluster;

/// <summary>A cluster file or cluster option that cannot work; the message names the file, the key and the fix.</summary>
public sealed class ClusterConfigurationException(string message) : OffloadException(message);
