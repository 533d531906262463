using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>What a job does, as submitted. Every node must see the model at <paramref name="ModelDir"/> (a shared or identical path).</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Kind">"compress" or "eval".</param>
/// <param name="ModelDir">The model folder (config.json + safetensors).</param>
/// <param name="RecipeYaml">The recipe text ("" for none).</param>
/// <param name="SeqLen">Tokens per calibration row.</param>
/// <param name="BatchRows">Rows per batch.</param>
/// <param name="Layers">Decoder layers of the model.</param>
/// <param name="Batches">Calibration batches.</param>
/// <param name="Fingerprint">The job fingerprint (model, recipe, data, code version): a resumed job must match.</param>
/// <param name="DriverNode">Node (or client) that owns the job's activations and output.</param>
/// <param name="ReplyTo">Where the driver receives job events.</param>
/// <param name="StateDir">compress: folder (shared by the nodes) where each layer's GPTQ results are written.</param>
/// <param name="SkipHead">compress: calibration only, the driver runs no head.</param>
/// <param name="NoPropagate">compress: do not re-run a modified layer (no error propagation).</param>
/// <param name="OutDir">The job's folder (shared by the coordinator nodes): its journal (activations, windows) and result.</param>
/// <param name="WindowsFile">The calibration / evaluation tokens (little-endian int32, windows concatenated) inside the journal folder.</param>
/// <param name="WindowsSha256">SHA-256 of <paramref name="WindowsFile"/>'s bytes (checked before use).</param>
/// <param name="HostMemoryBytes">Host budget of the coordinator's activations (0 = unbounded); beyond it they spill to the journal folder.</param>
/// <param name="DeviceMemoryBytes">Budget of the coordinator node's device for the embedding and head.</param>
/// <param name="Resume">Continue the job recorded for this id (--resume); false starts a new incarnation.</param>
[MessagePackObject]
public sealed record JobSpec(
    [property: Key(0)] string JobId,
    [property: Key(1)] string Kind,
    [property: Key(2)] string ModelDir,
    [property: Key(3)] string RecipeYaml,
    [property: Key(4)] int SeqLen,
    [property: Key(5)] int BatchRows,
    [property: Key(6)] int Layers,
    [property: Key(7)] int Batches,
    [property: Key(8)] string Fingerprint,
    [property: Key(9)] string DriverNode,
    [property: Key(10)] string ReplyTo,
    [property: Key(11)] string StateDir,
    [property: Key(12)] bool SkipHead,
    [property: Key(13)] bool NoPropagate,
    [property: Key(14)] string OutDir,
    [property: Key(15)] string WindowsFile,
    [property: Key(16)] string WindowsSha256,
    [property: Key(17)] long HostMemoryBytes,
    [property: Key(18)] long DeviceMemoryBytes,
    [property: Key(19)] bool Resume) : IOffloadMessage;
