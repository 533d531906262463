using Microsoft.Extensions.Logging;

namespace Offload.Actors.Sharding;

/// <summary>Log lines of sharding (event ids 1100–1199); every line names the entity type and the shard or region.</summary>
internal static partial class ShardingLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Warning,
        Message = "Region [{Region}] of [{TypeName}]: buffer is full ({BufferSize} messages); dropping a message for shard {Shard}")]
    public static partial void BufferFull(ILogger logger, string region, string typeName, int bufferSize, int shard);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information,
        Message = "Shard {Shard} of [{TypeName}] allocated to region [{Region}]")]
    public static partial void ShardAllocated(ILogger logger, string typeName, int shard, string region);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning,
        Message = "No region of [{TypeName}] can host shard {Shard} now; {Waiting} request(s) wait for a region to register or free memory")]
    public static partial void ShardUnallocatable(ILogger logger, string typeName, int shard, int waiting);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Information,
        Message = "Handing off shard {Shard} of [{TypeName}] from region [{Region}]")]
    public static partial void HandOffStarted(ILogger logger, string typeName, int shard, string region);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Information,
        Message = "Shard {Shard} of [{TypeName}] stopped in region [{Region}]; it will be allocated anew")]
    public static partial void HandOffCompleted(ILogger logger, string typeName, int shard, string region);

    [LoggerMessage(EventId = 1105, Level = LogLevel.Warning,
        Message = "Handoff of shard {Shard} of [{TypeName}] from region [{Region}] did not finish within {Seconds} s; the shard stays there")]
    public static partial void HandOffTimedOut(ILogger logger, string typeName, int shard, string region, double seconds);

    [LoggerMessage(EventId = 1106, Level = LogLevel.Information,
        Message = "Region [{Region}] of [{TypeName}] registered with {FreeMemoryBytes} free bytes")]
    public static partial void RegionRegistered(ILogger logger, string region, string typeName, long freeMemoryBytes);

    [LoggerMessage(EventId = 1107, Level = LogLevel.Warning,
        Message = "Region [{Region}] of [{TypeName}] stopped; its shards [{Shards}] are deallocated")]
    public static partial void RegionTerminated(ILogger logger, string region, string typeName, string shards);

    [LoggerMessage(EventId = 1108, Level = LogLevel.Warning,
        Message = "[{Requester}] asked for the home of shard {Shard} of [{TypeName}] without registering; ignored")]
    public static partial void UnregisteredRequester(ILogger logger, string requester, string typeName, int shard);

    [LoggerMessage(EventId = 1109, Level = LogLevel.Error,
        Message = "The allocation strategy of [{TypeName}] picked [{Region}] for shard {Shard}, which is not a registered region; the shard waits")]
    public static partial void StrategyPickedUnknownRegion(ILogger logger, string typeName, int shard, string region);

    [LoggerMessage(EventId = 1110, Level = LogLevel.Warning,
        Message = "Region [{Region}] of [{TypeName}] lost its coordinator [{Coordinator}]; messages for unknown shards are buffered")]
    public static partial void CoordinatorTerminated(ILogger logger, string region, string typeName, string coordinator);

    [LoggerMessage(EventId = 1111, Level = LogLevel.Debug,
        Message = "Shard {Shard} of [{TypeName}] passivates entity [{Entity}] ({Why})")]
    public static partial void Passivating(ILogger logger, string typeName, int shard, string entity, string why);
}
