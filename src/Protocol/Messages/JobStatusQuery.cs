using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Client → coordinator singleton: how is job <paramref name="JobId"/> doing? Answered with <see cref="JobStatus"/>.</summary>
/// <param name="JobId">The job's id.</param>
[MessagePackObject]
public sealed record JobStatusQuery([property: Key(0)] string JobId) : IOffloadMessage;
