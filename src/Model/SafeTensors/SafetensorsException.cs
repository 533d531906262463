using Offload.Protocol;

namespace Offload.Model.SafeTensors;

/// <summary>A malformed or unreadable safetensors file; the message names the file (and the tensor, when one is at fault).</summary>
public sealed class SafetensorsException(string message) : OffloadException(message);
