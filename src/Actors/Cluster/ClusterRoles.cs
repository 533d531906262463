namespace Offload.Actors.Cluster;

/// <summary>The node roles.</summary>
public static class ClusterRoles
{
    /// <summary>May run the coordinator singleton (consumes the coordinator queue; the broker keeps one consumer active).</summary>
    public const string Coordinator = "coordinator";

    /// <summary>May host shards (consumes the queues of the shards allocated to it).</summary>
    public const string Worker = "worker";
}
