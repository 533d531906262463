namespace Offload.Protocol;

/// <summary>
/// An error the user can cause and fix (bad path, wrong config, unsupported architecture, budget too small…).
/// The message is one line that names the file or module and the fix; the CLI prints it without a stack trace and
/// exits with code 2. Every project derives its own typed errors from this one.
/// </summary>
public class OffloadException : Exception
{
    public OffloadException(string message) : base(message) { }
    public OffloadException(string message, Exception inner) : base(message, inner) { }
}
