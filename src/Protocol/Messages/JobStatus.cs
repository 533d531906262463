using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Coordinator singleton → client: the state of a job.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="State">"unknown", "running", "finished" or "failed".</param>
/// <param name="Detail">Why it failed ("" otherwise).</param>
/// <param name="CommittedLayers">Layers committed so far.</param>
/// <param name="LayerNodes">The node that ran each committed layer, in layer order.</param>
/// <param name="CoordinatorNode">The node hosting the coordinator now.</param>
[MessagePackObject]
public sealed record JobStatus(
    [property: Key(0)] string JobId,
    [property: Key(1)] string State,
    [property: Key(2)] string Detail,
    [property: Key(3)] int CommittedLayers,
    [property: Key(4)] IReadOnlyList<string> LayerNodes,
    [property: Key(5)] string CoordinatorNode) : IOffloadMessage
{
    public const string Unknown = "unknown";
    public const string Running = "running";
    public const string Finished = "finished";
    public const string Failed = "failed";
}
