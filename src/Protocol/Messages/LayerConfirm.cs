using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>
/// Layer entity → coordinator before the entity publishes a finished layer, and the coordinator's answer: the fence that
/// keeps a node the cluster has downed from handing in work. The coordinator grants it unless the asking node's entity
/// was declared gone (its node downed); a downed node cannot reach the coordinator at all (it is quarantined), so its
/// ask times out. Either way it publishes and answers nothing.
/// </summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Layer">The layer index.</param>
/// <param name="Attempt">The attempt that finished.</param>
/// <param name="NodeId">The node asking.</param>
/// <param name="Granted">In the answer: whether the entity may publish and answer.</param>
[MessagePackObject]
public sealed record LayerConfirm(
    [property: Key(0)] string JobId,
    [property: Key(1)] int Layer,
    [property: Key(2)] int Attempt,
    [property: Key(3)] string NodeId,
    [property: Key(4)] bool Granted) : IOffloadMessage;
