using System.Text.RegularExpressions;

namespace Offload.Coordinator;

/// <summary>
/// One line for a failure that is not one of the project's own exceptions: what happened, where (the path the
/// runtime's message names) and the fix — never the .NET type name. Disk full (ENOSPC) and a read-only file system
/// (EROFS) are recognised by their error numbers, whatever the message's language.
/// </summary>
public static partial class ErrorText
{
    private const int Enospc = 28;
    private const int Erofs = 30;
    private const int Edquot = 122;

    /// <summary>The user-facing line (without the "offload: " prefix) for <paramref name="ex"/>.</summary>
    public static string Describe(Exception ex)
    {
        var message = OneLine(ex.Message);
        switch (ex)
        {
            case IOException io when IsNoSpace(io):
                return $"no space left on {Where(io)}: free space, then --resume";
            case IOException io when (io.HResult & 0xFFFF) == Erofs:
                return $"{Where(io)}: read-only file system; choose an --out on a writable disk";
            case UnauthorizedAccessException:
                return $"{Where(ex)}: permission denied; fix the folder's permissions or choose another --out";
            case OutOfMemoryException or InsufficientMemoryException:
                return "out of host memory; lower --batch, --prefetch-depth or --host-memory, or free memory, then --resume";
            case PathTooLongException:
                return $"{Where(ex)}: path too long; choose a shorter --out";
            case FileNotFoundException or DirectoryNotFoundException:
                return $"{message}; check the path";
            case IOException:
                return $"input/output error: {message}; check the disk and the path, then --resume";
            case OperationCanceledException:
                return "the run was cancelled; continue it with --resume";
            default:
                return $"internal error: {message}; continue with --resume, and report it if it happens again";
        }
    }

    /// <summary>True for "no space left on device" (ENOSPC) and a disk quota exceeded (EDQUOT).</summary>
    public static bool IsNoSpace(IOException io)
    {
        var errno = io.HResult & 0xFFFF;
        return errno is Enospc or Edquot || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The path an I/O message names ('…'), or "the disk" when it names none.</summary>
    private static string Where(Exception ex)
    {
        var m = QuotedPath().Match(ex.Message);
        return m.Success ? m.Groups[1].Value : "the disk";
    }

    private static string OneLine(string message) => string.Join(' ', message.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    [GeneratedRegex("'([^']+)'")]
    private static partial Regex QuotedPath();
}
