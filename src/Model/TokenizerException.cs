using Offload.Protocol;

namespace Offload.Model;

/// <summary>A missing or malformed tokenizer file, or a tokenizer whose vocabulary does not fit the model.</summary>
public sealed class TokenizerException(string message) : OffloadException(message);
