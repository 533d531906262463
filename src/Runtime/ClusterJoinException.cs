using Offload.Protocol;

namespace Offload.Runtime;

/// <summary>This node did not become Up in the cluster in time (no seed node answered, or the seeds are not a cluster of this system name).</summary>
public sealed class ClusterJoinException : OffloadException
{
    /// <summary>Creates the error with its one-line message.</summary>
    /// <param name="message">One line naming the node, the seeds and the fix.</param>
    public ClusterJoinException(string message) : base(message) { }
}
