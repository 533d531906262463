using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Coordinator event: the job finished after Layers layers (result and checkpoint written); journaled.</summary>
[MessagePackObject]
public sealed record JobFinishedEvent(
    [property: Key(0)] int Layers) : IOffloadMessage;
