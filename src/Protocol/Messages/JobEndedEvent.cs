using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Event of the job registry: the job's coordinator ended — finished, or failed with <paramref name="Detail"/>.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Succeeded">Whether it finished.</param>
/// <param name="Detail">Why it failed ("" when it finished).</param>
[MessagePackObject]
public sealed record JobEndedEvent(
    [property: Key(0)] string JobId,
    [property: Key(1)] bool Succeeded,
    [property: Key(2)] string Detail) : IOffloadMessage;
