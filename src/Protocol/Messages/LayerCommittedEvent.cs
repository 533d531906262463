using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Coordinator event: a layer is done; its outputs are the journal file Activations with SHA-256 Sha256 ("" without a journal folder); journaled.</summary>
[MessagePackObject]
public sealed record LayerCommittedEvent(
    [property: Key(0)] int Layer,
    [property: Key(1)] string Activations,
    [property: Key(2)] string Sha256) : IOffloadMessage;
