using Offload.Protocol;

namespace Offload.Actors.Cluster;

/// <summary>
/// A sharded entity type hosted by worker nodes (Akka's <c>ClusterSharding.Start(typeName, entityProps, …)</c>).
/// An entity receives the protobuf payload of each message sent to it and must answer every message: with a
/// protobuf message (published to the sender's reply queue), with <see cref="Status.Success"/> (handled, no reply),
/// or with <see cref="Status.Failure"/> (the handler failed: the message is redelivered, and dead-lettered after
/// <see cref="ClusterSettings.MaxHandlerAttempts"/>). The message is acknowledged to the broker only then.
/// </summary>
/// <param name="Name">The type name: part of the shard queue names ("layer").</param>
/// <param name="EntityProps">Creates the actor of one entity from its id.</param>
public sealed record ClusterEntityType(string Name, Func<EntityId, Props> EntityProps)
{
    /// <summary>When true the entity receives a <see cref="ClusterDelivery"/> (payload, envelope, redelivered) instead of the payload.</summary>
    public bool ReceivesDeliveries { get; init; }
}
