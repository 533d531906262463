using Offload.Protocol;

namespace Offload.Model;

/// <summary>A missing, malformed or unsupported config.json; the message names the file, the key and the fix.</summary>
public sealed class ModelConfigException(string message) : OffloadException(message);
