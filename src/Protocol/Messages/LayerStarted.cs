using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>
/// Layer entity → coordinator, first answer to <see cref="RunLayer"/>: the entity has the request and runs it on this node.
/// The coordinator death-watches the sender: when its node is downed, the layer is asked for again (next attempt) and
/// the shard region gives it a new home.
/// </summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Layer">The layer index.</param>
/// <param name="Attempt">The attempt being run.</param>
/// <param name="NodeId">The node running it.</param>
[MessagePackObject]
public sealed record LayerStarted(
    [property: Key(0)] string JobId,
    [property: Key(1)] int Layer,
    [property: Key(2)] int Attempt,
    [property: Key(3)] string NodeId) : IOffloadMessage;
