using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Driver → coordinator: the job finished (or failed); journaled.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Succeeded">Whether it succeeded.</param>
/// <param name="Detail">One line of detail ("" for none).</param>
[MessagePackObject]
public sealed record JobFinished(
    [property: Key(0)] string JobId,
    [property: Key(1)] bool Succeeded,
    [property: Key(2)] string Detail) : IOffloadMessage;
