using Microsoft.Extensions.Logging;

namespace Offload.Actors.Cluster;

/// <summary>Log lines of the cluster transport, membership and coordinator (event ids 1200–1299).</summary>
internal static partial class ClusterLog
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "Broker unreachable at {Uris}: {Reason}; retrying")]
    public static partial void BrokerUnreachable(ILogger logger, string uris, string reason);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Connection to the broker lost ({Initiator}: {Reason}); recovering")]
    public static partial void ConnectionLost(ILogger logger, string reason, string initiator);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "Connection to the broker recovered (channels, queues and consumers)")]
    public static partial void ConnectionRecovered(ILogger logger);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "{What} failed ({ExceptionType}: {Reason}); retrying until the publish timeout")]
    public static partial void PublishRetrying(ILogger logger, string what, string exceptionType, string reason);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Information, Message = "{What} succeeded after {Attempts} retries ({Seconds:F1} s)")]
    public static partial void PublishRecovered(ILogger logger, string what, int attempts, double seconds);

    [LoggerMessage(EventId = 1205, Level = LogLevel.Warning, Message = "Dead-lettered a message from queue [{Queue}] (message id {MessageId}): {Reason}")]
    public static partial void DeadLettered(ILogger logger, string queue, string messageId, string reason);

    [LoggerMessage(EventId = 1206, Level = LogLevel.Debug, Message = "Queue [{Queue}]: message {MessageId} was handled before; acknowledged without running the handler")]
    public static partial void Duplicate(ILogger logger, string queue, string messageId);

    [LoggerMessage(EventId = 1207, Level = LogLevel.Warning, Message = "Queue [{Queue}]: handler of {MessageType} {MessageId} failed (attempt {Attempt} of {Max}): {Reason}")]
    public static partial void HandlerFailed(ILogger logger, string queue, string messageType, string messageId, int attempt, int max, string reason, Exception exception);

    [LoggerMessage(EventId = 1208, Level = LogLevel.Information, Message = "Node [{Node}] became the coordinator (epoch {Epoch}) after replaying {Events} journal events in {Seconds:F2} s")]
    public static partial void CoordinatorActive(ILogger logger, string node, long epoch, int events, double seconds);

    [LoggerMessage(EventId = 1209, Level = LogLevel.Warning, Message = "Node [{Node}] is no longer the coordinator: {Reason}")]
    public static partial void CoordinatorInactive(ILogger logger, string node, string reason);

    [LoggerMessage(EventId = 1210, Level = LogLevel.Information, Message = "Member [{Member}] is up with roles [{Roles}] and {FreeBytes} free device bytes")]
    public static partial void MemberUp(ILogger logger, string member, string roles, long freeBytes);

    [LoggerMessage(EventId = 1211, Level = LogLevel.Warning, Message = "Member [{Member}] is down: no heartbeat for {Seconds:F1} s ({Missed} intervals); its shards [{Shards}] are reallocated")]
    public static partial void MemberDown(ILogger logger, string member, double seconds, int missed, string shards);

    [LoggerMessage(EventId = 1212, Level = LogLevel.Information, Message = "Member [{Member}] is leaving; handing off its shards [{Shards}]")]
    public static partial void MemberLeaving(ILogger logger, string member, string shards);

    [LoggerMessage(EventId = 1213, Level = LogLevel.Information, Message = "Member [{Member}] left")]
    public static partial void MemberRemoved(ILogger logger, string member);

    [LoggerMessage(EventId = 1214, Level = LogLevel.Information, Message = "Shard {Shard} of [{EntityType}] allocated to [{Node}] (allocation {Allocation})")]
    public static partial void ShardAllocated(ILogger logger, string entityType, int shard, string node, long allocation);

    [LoggerMessage(EventId = 1215, Level = LogLevel.Information, Message = "Handing off shard {Shard} of [{EntityType}] from [{Node}]")]
    public static partial void HandOffStarted(ILogger logger, string entityType, int shard, string node);

    [LoggerMessage(EventId = 1216, Level = LogLevel.Information, Message = "Shard {Shard} of [{EntityType}] stopped on [{Node}] after {Seconds:F2} s of handoff")]
    public static partial void HandOffCompleted(ILogger logger, string entityType, int shard, string node, double seconds);

    [LoggerMessage(EventId = 1217, Level = LogLevel.Warning, Message = "Handoff of shard {Shard} of [{EntityType}] from [{Node}] did not finish within {Seconds} s; it stays there and is retried")]
    public static partial void HandOffTimedOut(ILogger logger, string entityType, int shard, string node, double seconds);

    [LoggerMessage(EventId = 1218, Level = LogLevel.Warning, Message = "No worker can host shard {Shard} of [{EntityType}] now; it waits for a worker to join")]
    public static partial void ShardUnallocatable(ILogger logger, string entityType, int shard);

    [LoggerMessage(EventId = 1219, Level = LogLevel.Information, Message = "Node [{Node}] hosts shard {Shard} of [{EntityType}] (allocation {Allocation})")]
    public static partial void HostingShard(ILogger logger, string node, string entityType, int shard, long allocation);

    [LoggerMessage(EventId = 1220, Level = LogLevel.Information, Message = "Node [{Node}] stopped shard {Shard} of [{EntityType}] ({Reason})")]
    public static partial void StoppedShard(ILogger logger, string node, string entityType, int shard, string reason);

    [LoggerMessage(EventId = 1221, Level = LogLevel.Warning, Message = "Node [{Node}] was declared down by the coordinator: {Reason}")]
    public static partial void SelfDowned(ILogger logger, string node, string reason);

    [LoggerMessage(EventId = 1222, Level = LogLevel.Information, Message = "Node [{Node}] joined the cluster (coordinator [{Coordinator}], epoch {Epoch})")]
    public static partial void Joined(ILogger logger, string node, string coordinator, long epoch);

    [LoggerMessage(EventId = 1223, Level = LogLevel.Warning, Message = "Journal event of epoch {Epoch} ignored on replay: a newer coordinator (epoch {Current}) had taken over")]
    public static partial void FencedEvent(ILogger logger, long epoch, long current);

    [LoggerMessage(EventId = 1224, Level = LogLevel.Error, Message = "Coordinator command {MessageType} failed: {Reason}")]
    public static partial void CoordinatorCommandFailed(ILogger logger, string messageType, string reason, Exception exception);
}
