using System.Runtime.InteropServices;

namespace Offload.Tensors.Storage;

/// <summary>
/// 64-byte aligned native host memory, zero-initialised unless asked otherwise: NativeMemory.AlignedAlloc, or for
/// large buffers <see cref="NativeBufferPool"/> (reused buffers, huge pages).
/// </summary>
public sealed unsafe class NativeStorage : TensorStorage
{
    /// <summary>Alignment of every native allocation (one cache line; also the AVX-512 vector width).</summary>
    public const int Alignment = 64;

    private static long s_liveBytes;
    private readonly byte* _pointer;
    private readonly long _length;
    private readonly long _pooledCapacity; // 0: from the allocator

    public NativeStorage(long byteLength, bool zero = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        _length = byteLength;
        if (byteLength >= NativeBufferPool.MinPooledBytes)
        {
            _pointer = NativeBufferPool.Rent(byteLength, zero, out _pooledCapacity);
        }
        else
        {
            _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(byteLength, 1), Alignment);
            if (zero) NativeMemory.Clear(_pointer, (nuint)byteLength);
        }
        Interlocked.Add(ref s_liveBytes, byteLength);
    }

    /// <summary>Bytes of native tensor memory currently allocated in this process (for tests and telemetry).</summary>
    public static long LiveBytes => Interlocked.Read(ref s_liveBytes);

    public override byte* Pointer => _pointer;
    public override long ByteLength => _length;
    public override StorageKind Kind => StorageKind.Native;

    protected override void Free()
    {
        if (_pooledCapacity > 0) NativeBufferPool.Return(_pointer, _pooledCapacity);
        else NativeMemory.AlignedFree(_pointer);
        Interlocked.Add(ref s_liveBytes, -_length);
    }
}
