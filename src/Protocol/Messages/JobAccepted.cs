using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Coordinator → driver: the job is known; layers before <paramref name="NextLayer"/> are done (their outputs are in the journal).</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="NextLayer">The first layer not yet committed.</param>
[MessagePackObject]
public sealed record JobAccepted(
    [property: Key(0)] string JobId,
    [property: Key(1)] int NextLayer) : IOffloadMessage;
