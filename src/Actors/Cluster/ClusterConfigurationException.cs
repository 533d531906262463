using Offload.Protocol;

namespace Offload.Actors.Cluster;

/// <summary>A cluster setting is missing or out of range; the message names the setting, the value and the allowed range.</summary>
public sealed class ClusterConfigurationException(string message) : OffloadException(message);
