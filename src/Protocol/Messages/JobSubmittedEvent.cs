using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Event of the coordinator singleton's job registry: a job was accepted as incarnation <paramref name="Incarnation"/>
/// of its id (its coordinator's persistence id is "offload-job-{id}-{incarnation}").</summary>
/// <param name="Spec">The job as submitted.</param>
/// <param name="Incarnation">1 for the first run of this id; a submission without --resume starts the next.</param>
[MessagePackObject]
public sealed record JobSubmittedEvent(
    [property: Key(0)] JobSpec Spec,
    [property: Key(1)] int Incarnation) : IOffloadMessage;
