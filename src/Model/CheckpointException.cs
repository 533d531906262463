using Offload.Protocol;

namespace Offload.Model;

/// <summary>
/// A checkpoint that does not match its config (missing tensor, wrong shape, unsupported dtype) or a foreign
/// checkpoint format that cannot be read; the message names the file and tensor and says how to fix it.
/// </summary>
public sealed class CheckpointException(string message) : OffloadException(message);
