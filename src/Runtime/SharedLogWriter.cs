using System.Text;

namespace Offload.Runtime;

/// <summary>One appending, line-flushed writer per log file and process, shared (reference counted) by the actor systems that log to it.</summary>
internal sealed class SharedLogWriter
{
    private static readonly Dictionary<string, SharedLogWriter> Open = new(StringComparer.Ordinal);
    private static readonly Lock Gate = new();

    private readonly string _path;
    private readonly StreamWriter _writer;
    private int _references;

    private SharedLogWriter(string path)
    {
        _path = path;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        _writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
    }

    /// <summary>The writer of <paramref name="path"/>, opened (append) on first use.</summary>
    public static SharedLogWriter Acquire(string path)
    {
        lock (Gate)
        {
            if (!Open.TryGetValue(path, out var w)) Open[path] = w = new SharedLogWriter(path);
            w._references++;
            return w;
        }
    }

    /// <summary>Appends one line (flushed: the log must survive a kill).</summary>
    public void WriteLine(string line)
    {
        lock (Gate) _writer.WriteLine(line);
    }

    /// <summary>Drops one reference; the last closes the file.</summary>
    public void Release()
    {
        lock (Gate)
        {
            if (--_references > 0) return;
            Open.Remove(_path);
            _writer.Dispose();
        }
    }
}
