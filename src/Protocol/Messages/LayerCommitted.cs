using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Driver → coordinator: layer <paramref name="Layer"/> of the job is committed (the driver fsynced its outputs); journaled.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Layer">The layer index.</param>
/// <param name="NodeId">The node that computed it.</param>
/// <param name="Attempt">The attempt that produced it.</param>
[MessagePackObject]
public sealed record LayerCommitted(
    [property: Key(0)] string JobId,
    [property: Key(1)] int Layer,
    [property: Key(2)] string NodeId,
    [property: Key(3)] int Attempt) : IOffloadMessage;
