using System.Runtime.InteropServices;

namespace Offload.Tensors.Storage;

/// <summary>
/// Large native tensor buffers (≥ <see cref="MinPooledBytes"/>), kept for reuse after their tensor is freed. A forward
/// allocates and frees the same few shapes batch after batch; memory fresh from the kernel costs a page fault per 4 KiB
/// page on first touch (measured here: ~110 ms for 32 MiB, a third of a decoder layer's forward at 4096 tokens), memory
/// reused does not. New buffers are mapped 2 MiB-aligned with transparent huge pages requested (Linux), so even a first
/// touch faults once per 2 MiB. At most <see cref="CapacityBytes"/> of freed buffers are kept (oldest released first),
/// so the pool adds a bounded amount to the process's resident memory.
/// </summary>
public static unsafe class NativeBufferPool
{
    /// <summary>Smaller buffers go straight to the allocator.</summary>
    public const long MinPooledBytes = 1L << 20;

    private const long HugePage = 2L << 20;
    private const long SizeClass = 1L << 20;
    private static readonly Lock s_lock = new();
    private static readonly LinkedList<(nint Pointer, long Capacity)> s_free = new(); // most recently freed first
    private static long s_freeBytes;
    private static long s_capacity = 512L << 20;

    /// <summary>The most bytes of freed buffers kept for reuse (0 turns the pool off); 512 MiB by default.</summary>
    public static long CapacityBytes
    {
        get => Interlocked.Read(ref s_capacity);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            Interlocked.Exchange(ref s_capacity, value);
            Trim(value);
        }
    }

    /// <summary>Bytes held in freed buffers right now.</summary>
    public static long FreeBytes
    {
        get
        {
            lock (s_lock) return s_freeBytes;
        }
    }

    /// <summary>A buffer of at least <paramref name="bytes"/> (its capacity, a whole number of MiB, is returned); zeroed when asked.</summary>
    internal static byte* Rent(long bytes, bool zero, out long capacity)
    {
        capacity = (bytes + SizeClass - 1) / SizeClass * SizeClass;
        lock (s_lock)
        {
            for (var node = s_free.First; node is not null; node = node.Next)
            {
                if (node.Value.Capacity != capacity) continue;
                s_free.Remove(node);
                s_freeBytes -= capacity;
                var p = (byte*)node.Value.Pointer;
                if (zero) NativeMemory.Clear(p, (nuint)bytes);
                return p;
            }
        }
        return Map(capacity); // fresh pages are zero
    }

    /// <summary>Gives a buffer back: kept for reuse within the capacity, else released.</summary>
    internal static void Return(byte* pointer, long capacity)
    {
        var cap = CapacityBytes;
        if (capacity > cap)
        {
            Unmap(pointer, capacity);
            return;
        }
        List<(nint, long)>? release = null;
        lock (s_lock)
        {
            s_free.AddFirst(((nint)pointer, capacity));
            s_freeBytes += capacity;
            while (s_freeBytes > cap && s_free.Last is { } oldest)
            {
                s_free.RemoveLast();
                s_freeBytes -= oldest.Value.Capacity;
                (release ??= []).Add(oldest.Value);
            }
        }
        if (release is not null)
            foreach (var (p, c) in release) Unmap((byte*)p, c);
    }

    /// <summary>Releases freed buffers until at most <paramref name="keepBytes"/> are held (0: all).</summary>
    public static void Trim(long keepBytes = 0)
    {
        List<(nint, long)> release = [];
        lock (s_lock)
        {
            while (s_freeBytes > keepBytes && s_free.Last is { } oldest)
            {
                s_free.RemoveLast();
                s_freeBytes -= oldest.Value.Capacity;
                release.Add(oldest.Value);
            }
        }
        foreach (var (p, c) in release) Unmap((byte*)p, c);
    }

    private static byte* Map(long capacity)
    {
        if (!OperatingSystem.IsLinux())
        {
            var p = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, NativeStorage.Alignment);
            NativeMemory.Clear(p, (nuint)capacity);
            return p;
        }
        // Over-map by one huge page, keep the 2 MiB-aligned part, give the rest back.
        var length = capacity + HugePage;
        var raw = (byte*)mmap(null, (nuint)length, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (raw == (byte*)-1) throw new OutOfMemoryException($"could not map {capacity} bytes of host memory");
        var aligned = (byte*)(((long)raw + HugePage - 1) & ~(HugePage - 1));
        if (aligned > raw) munmap(raw, (nuint)(aligned - raw));
        var tail = raw + length - (aligned + capacity);
        if (tail > 0) munmap(aligned + capacity, (nuint)tail);
        madvise(aligned, (nuint)capacity, MadvHugePage); // a hint: without THP it is refused and 4 KiB pages serve
        return aligned;
    }

    private static void Unmap(byte* pointer, long capacity)
    {
        if (!OperatingSystem.IsLinux()) NativeMemory.AlignedFree(pointer);
        else munmap(pointer, (nuint)capacity);
    }

    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20, MadvHugePage = 14;

    [DllImport("libc", SetLastError = true)]
    private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(void* addr, nuint length);

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(void* addr, nuint length, int advice);
}
