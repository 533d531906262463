using Offload.Protocol;

namespace Offload.Transforms.Config;

/// <summary>A transform configuration the user wrote is invalid; the one-line message names the source, the field and the fix.</summary>
public sealed class TransformConfigException : OffloadException
{
    public TransformConfigException(string message) : base(message) { }
}
