using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>
/// One run per work folder: an exclusive OS file lock (flock) on "&lt;work&gt;/lock", held for the whole run, with the
/// holder's PID and host written into the file. The OS drops the lock when the process ends however it ends (kill -9
/// included), so a stale lock file never blocks --resume; a second run finds the lock held and is refused, naming the
/// holder. (flock directly, not FileShare.None: .NET's own share emulation also locks readers out of the file, so the
/// holder could not be named, and it can be switched off by an environment variable.)
/// </summary>
public sealed class WorkFolderLock : IDisposable
{
    public const string FileName = "lock";
    private const int OReadWrite = 2;
    private const int OCreate = 0x40;
    private const int OCloexec = 0x80000;
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int LockUnlock = 8;
    private const int Ewouldblock = 11;
    private int _fd;

    private WorkFolderLock(int fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Takes the lock of <paramref name="workDir"/> (which must exist), or throws a one-line <see cref="OffloadException"/> naming the run holding it.</summary>
    public static WorkFolderLock Acquire(string workDir)
    {
        var path = System.IO.Path.Combine(workDir, FileName);
        if (!OperatingSystem.IsLinux())
        {
            // Elsewhere: .NET's FileShare.None (an exclusive lock on the platforms it supports).
            return new WorkFolderLock(-1, path) { _stream = Exclusive(path, workDir) };
        }
        var fd = Open(path, OReadWrite | OCreate | OCloexec, Convert.ToInt32("644", 8));
        if (fd < 0)
            throw new OffloadException($"{path}: cannot open the work folder's lock file (errno {Marshal.GetLastPInvokeError()}); check the folder's permissions");
        if (Flock(fd, LockExclusive | LockNonBlocking) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            var holder = ReadHolder(fd);
            _ = Close(fd);
            if (errno == Ewouldblock) throw Held(workDir, holder);
            // A file system without locks (some network mounts): run unlocked rather than refuse.
            return new WorkFolderLock(-1, path);
        }
        var text = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} on host {Environment.MachineName}\n"));
        _ = Ftruncate(fd, 0);
        _ = Pwrite(fd, text, text.Length, 0);
        return new WorkFolderLock(fd, path);
    }

    private FileStream? _stream;

    private static FileStream Exclusive(string path, string workDir)
    {
        try
        {
            var fs = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            fs.SetLength(0);
            fs.Write(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} on host {Environment.MachineName}\n")));
            fs.Flush();
            return fs;
        }
        catch (IOException)
        {
            throw Held(workDir, null);
        }
    }

    private static OffloadException Held(string workDir, string? holder) =>
        new($"{workDir}: another offload run ({(string.IsNullOrWhiteSpace(holder) ? "another process" : holder.Trim())}) is using this work folder; wait for it to end or stop it");

    private static string? ReadHolder(int fd)
    {
        var buffer = new byte[256];
        var n = Pread(fd, buffer, buffer.Length, 0);
        if (n <= 0) return null;
        var text = Encoding.UTF8.GetString(buffer, 0, (int)n).Split('\n')[0];
        return text.StartsWith("pid ", StringComparison.Ordinal) ? text : null;
    }

    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
        if (_fd >= 0)
        {
            _ = Flock(_fd, LockUnlock);
            _ = Close(_fd);
            _fd = -1;
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, int mode);

    [DllImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static extern int Flock(int fd, int operation);

    [DllImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    private static extern int Ftruncate(int fd, long length);

    [DllImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    private static extern nint Pwrite(int fd, byte[] buffer, nint count, long offset);

    [DllImport("libc", EntryPoint = "pread", SetLastError = true)]
    private static extern nint Pread(int fd, byte[] buffer, nint count, long offset);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
