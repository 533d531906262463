using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>Layer entity → driver (reply to <see cref="RunLayer"/>): the layer ran.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Layer">The layer index.</param>
/// <param name="Attempt">The attempt this answers.</param>
/// <param name="NodeId">The node that ran it.</param>
/// <param name="Outputs">One output per batch, in batch order.</param>
/// <param name="ReplacedParameters">The layer's parameters a modifier replaced (HF names).</param>
/// <param name="ComputeSeconds">Time spent computing, in seconds.</param>
/// <param name="StateFiles">The layer's state files (e.g. its GPTQ results), as U8 tensors named by file name: the coordinator
/// pulls them and writes them into the job's state folder — a worker never writes into the job's folders.</param>
[MessagePackObject]
public sealed record LayerDone(
    [property: Key(0)] string JobId,
    [property: Key(1)] int Layer,
    [property: Key(2)] int Attempt,
    [property: Key(3)] string NodeId,
    [property: Key(4)] IReadOnlyList<TensorRef> Outputs,
    [property: Key(5)] IReadOnlyList<TensorRef> ReplacedParameters,
    [property: Key(6)] double ComputeSeconds,
    [property: Key(7)] IReadOnlyList<TensorRef> StateFiles) : IOffloadMessage;
