using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Client → coordinator: run this job (idempotent by job id; a job already known answers with its progress).</summary>
/// <param name="Spec">The job.</param>
[MessagePackObject]
public sealed record SubmitJob([property: Key(0)] JobSpec Spec) : IOffloadMessage;
