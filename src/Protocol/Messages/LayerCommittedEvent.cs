using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Coordinator event: a layer is done; its outputs are the journal file Activations with SHA-256 Sha256 ("" without a journal folder); journaled.</summary>
[MessagePackObject]
/// <remarks>NodeId: the node that ran the layer ("" in one process).</remarks>
public sealed record LayerCommittedEvent(
    [property: Key(0)] int Layer,
    [property: Key(1)] string Activations,
    [property: Key(2)] string Sha256,
    [property: Key(3)] string NodeId = "") : IOffloadMessage;
