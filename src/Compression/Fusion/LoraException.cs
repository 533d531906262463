using Offload.Protocol;

namespace Offload.Compression.Fusion;

/// <summary>A LoRA adapter directory that cannot be read or does not fit the model (one-line message naming the file and the fix).</summary>
public sealed class LoraException(string message) : OffloadException(message);
