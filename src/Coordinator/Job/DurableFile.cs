using System.Runtime.InteropServices;

namespace Offload.Coordinator.Job;

/// <summary>
/// Crash-safe file writes: write to a temporary name, fsync the file, rename over the final name, fsync the folder.
/// After a crash the final name holds either the old or the new complete content, never a partial one.
/// </summary>
public static class DurableFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>; <paramref name="beforeRename"/> runs after the fsync (test hook).</summary>
    public static void Write(string path, Action<FileStream> write, Action? beforeRename = null)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temp = Path.Combine(dir, "." + Path.GetFileName(path) + ".tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            beforeRename?.Invoke();
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
        SyncDirectory(dir);
    }

    public static void WriteAllText(string path, string text, Action? beforeRename = null) =>
        Write(path, fs =>
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            fs.Write(bytes);
        }, beforeRename);

    /// <summary>fsyncs a folder so that renames and creations in it are durable (no-op where unsupported).</summary>
    public static void SyncDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = Open(dir, 0);
        if (fd < 0) return;
        try
        {
            _ = Fsync(fd);
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
