using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Coordinator event: the job began, with its identity (model, job options + tokens, code hashes) and shape; journaled.</summary>
[MessagePackObject]
public sealed record JobStartedEvent(
    [property: Key(0)] string Model,
    [property: Key(1)] string Job,
    [property: Key(2)] string Code,
    [property: Key(3)] int Layers,
    [property: Key(4)] int Batches) : IOffloadMessage;
