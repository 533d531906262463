using Offload.Protocol;

namespace Offload.Coordinator.Cluster;

/// <summary>The local broker could not be started or stopped (not installed, a port taken, a start timeout).</summary>
public sealed class BrokerException(string message) : OffloadException(message);
