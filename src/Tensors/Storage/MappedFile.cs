using System.IO.MemoryMappedFiles;

namespace Offload.Tensors.Storage;

/// <summary>
/// A file mapped read-only into the address space: the first offload tier. Tensors over it are zero-copy views
/// (<see cref="MappedStorage"/>); the mapping stays alive until the file and every view on it are disposed.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _mmf;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _pointer;
    private int _refCount = 1;
    private int _disposed;

    public MappedFile(string path)
    {
        Path = path;
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: file not found", path);
        Length = info.Length;
        if (Length == 0) return; // an empty file cannot be mapped; nothing in it can be viewed either
        _mmf = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _mmf.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + _view.PointerOffset;
    }

    public string Path { get; }
    public long Length { get; }

    /// <summary>Start of the mapping; valid while this file or a view on it is alive.</summary>
    public byte* Pointer => _pointer;

    /// <summary>The bytes [offset, offset+length) as a span (length must fit an int).</summary>
    public ReadOnlySpan<byte> Bytes(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > Length) throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: range [{offset}, {offset + length}) is outside the file ({Length} bytes)");
        return new ReadOnlySpan<byte>(_pointer + offset, length);
    }

    /// <summary>A zero-copy storage over [offset, offset+length) of the file.</summary>
    public MappedStorage View(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Length) throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: range [{offset}, {offset + length}) is outside the file ({Length} bytes)");
        AddRef();
        return new MappedStorage(this, offset, length);
    }

    /// <summary>
    /// Tells the OS this process no longer needs the pages of [offset, offset+length) mapped (Linux: MADV_DONTNEED):
    /// they leave the process's resident set but stay in the page cache, and a later read maps them again. Called after
    /// a parameter has been copied to its device, so the file's pages do not stay counted in the process's memory.
    /// </summary>
    public void DropResident(long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || _pointer == null || length <= 0) return;
        const long page = 4096;
        var start = (long)(_pointer + offset) & ~(page - 1);
        var end = ((long)(_pointer + offset + length) + page - 1) & ~(page - 1);
        _ = madvise((void*)start, (nuint)(end - start), MadvDontNeed); // advice: a refusal changes nothing but memory
    }

    private const int MadvDontNeed = 4;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int madvise(void* addr, nuint length, int advice);

    internal void AddRef()
    {
        if (Interlocked.Increment(ref _refCount) <= 1) throw new ObjectDisposedException(Path);
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _refCount) != 0) return;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _mmf?.Dispose();
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Release();
    }
}
