using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Layer entity → driver (reply to <see cref="RunLayer"/>): the layer failed.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Layer">The layer index.</param>
/// <param name="Attempt">The attempt this answers.</param>
/// <param name="NodeId">The node that ran it.</param>
/// <param name="Reason">One line saying why.</param>
[MessagePackObject]
public sealed record LayerFailed(
    [property: Key(0)] string JobId,
    [property: Key(1)] int Layer,
    [property: Key(2)] int Attempt,
    [property: Key(3)] string NodeId,
    [property: Key(4)] string Reason) : IOffloadMessage;
