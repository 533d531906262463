namespace Offload.Actors.Cluster;

/// <summary>The broker did not take or deliver a message (unreachable past the publish timeout, or unroutable).</summary>
public sealed class ClusterTransportException(string message, Exception? inner = null) : Exception(message, inner);
