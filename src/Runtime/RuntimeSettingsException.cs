using Offload.Protocol;

namespace Offload.Runtime;

/// <summary>A <see cref="RuntimeSettings"/> value Akka cannot use (a malformed seed address, a seed of another system, a port out of range).</summary>
public sealed class RuntimeSettingsException : OffloadException
{
    /// <summary>Creates the error with its one-line message.</summary>
    /// <param name="message">One line naming the setting, the bad value and the fix.</param>
    public RuntimeSettingsException(string message) : base(message) { }
}
