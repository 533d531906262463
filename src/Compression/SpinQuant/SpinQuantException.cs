using Offload.Protocol;

namespace Offload.Compression.SpinQuant;

/// <summary>A SpinQuant setting that cannot work for this model; one line naming the modifier and the fix.</summary>
public sealed class SpinQuantException(string message) : OffloadException(message);
