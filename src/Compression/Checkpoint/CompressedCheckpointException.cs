using Offload.Protocol;

namespace Offload.Compression.Checkpoint;

/// <summary>A compressed checkpoint cannot be written or read (folder exists, missing source files, malformed tensors); the message names the path and the fix.</summary>
public sealed class CompressedCheckpointException(string message) : OffloadException(message);
