namespace Offload.Actors.Cluster;

/// <summary>The RabbitMQ queue type of the durable queues (shard mailboxes, the coordinator queue).</summary>
public enum QueueKind
{
    /// <summary>Quorum queues when the cluster file lists ≥ 3 broker nodes, classic durable queues otherwise.</summary>
    Auto,

    /// <summary>Classic durable queues (one broker node holds them).</summary>
    Classic,

    /// <summary>Quorum queues (Raft-replicated over the broker nodes; survive the loss of a minority).</summary>
    Quorum,
}
