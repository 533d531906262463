using System.Text;

namespace Offload.Model.SafeTensors;

/// <summary>Formatting for error messages: names from a file are quoted with control characters escaped, so every message stays one line.</summary>
internal static class SafetensorsText
{
    /// <summary>The name in single quotes, with control characters (newlines included) written as \n, \uXXXX….</summary>
    public static string Quote(string name)
    {
        var sb = new StringBuilder(name.Length + 2);
        sb.Append('\'');
        AppendEscaped(sb, name, 200);
        sb.Append('\'');
        return sb.ToString();
    }

    /// <summary>A path or free text made safe for a one-line message.</summary>
    public static string OneLine(string text)
    {
        var sb = new StringBuilder(text.Length);
        AppendEscaped(sb, text, 500);
        return sb.ToString();
    }

    /// <summary>
    /// A full disk (or quota) is not bad input: it is reported as the system reports it — an <see cref="IOException"/>
    /// with ENOSPC's error number and "No space left on device : 'path'" — so the CLI says "free space, then --resume"
    /// (exit code 1). .NET reports a failed preallocation without the error number ("… because the disk was full"), so
    /// the free space is asked too.
    /// </summary>
    public static bool IsDiskFull(IOException ex, string file, long needed)
    {
        if ((ex.HResult & 0xFFFF) is Enospc or Edquot) return true;
        if (ex.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase) || ex.Message.Contains("disk was full", StringComparison.OrdinalIgnoreCase)) return true;
        try
        {
            var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file));
            return dir is not null && new DriveInfo(dir).AvailableFreeSpace < needed;
        }
        catch (Exception probe) when (probe is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    private const int Enospc = 28;
    private const int Edquot = 122;

    public static IOException DiskFull(string path) => new($"No space left on device : '{path}'", Enospc);

    /// <summary>The first line of an exception message (framework messages sometimes span lines).</summary>
    public static string FirstLine(string message)
    {
        var cut = message.IndexOfAny(['\r', '\n']);
        return OneLine(cut < 0 ? message : message[..cut]);
    }

    private static void AppendEscaped(StringBuilder sb, string s, int max)
    {
        var n = Math.Min(s.Length, max);
        for (var i = 0; i < n; i++)
        {
            var c = s[i];
            switch (c)
            {
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u0085') sb.Append("\\u").Append(((int)c).ToString("x4"));
                    else sb.Append(c);
                    break;
            }
        }
        if (s.Length > max) sb.Append("…");
    }
}
