using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>A sharding setting is out of range; the message names the setting, its valid range and the value given.</summary>
public sealed class ShardingConfigurationException : OffloadException
{
    public ShardingConfigurationException(string message) : base(message) { }
}
