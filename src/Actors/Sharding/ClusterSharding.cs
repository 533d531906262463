using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// Starts the sharding actors of one entity type under /system (so they outlive /user actors on shutdown).
/// In one process, several regions of the same type stand for several nodes; each needs its own region name.
/// </summary>
public static class ClusterSharding
{
    public static IActorRef StartCoordinator(ActorSystem system, string typeName, IShardAllocationStrategy strategy, ShardingSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        return system.SystemActorOf(ShardCoordinator.Props(typeName, strategy, settings), $"sharding-{typeName}-coordinator");
    }

    public static IActorRef StartRegion(ActorSystem system, string typeName, string regionName, Func<EntityId, Props> entityProps,
        IMessageExtractor extractor, IActorRef coordinator, long freeMemoryBytes, ShardingSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        return system.SystemActorOf(ShardRegion.Props(typeName, entityProps, extractor, coordinator, freeMemoryBytes, settings),
            $"sharding-{typeName}-{regionName}");
    }

    public static IActorRef StartProxy(ActorSystem system, string typeName, string proxyName, IMessageExtractor extractor,
        IActorRef coordinator, ShardingSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        return system.SystemActorOf(ShardRegion.ProxyProps(typeName, extractor, coordinator, settings), $"sharding-{typeName}-{proxyName}");
    }
}
