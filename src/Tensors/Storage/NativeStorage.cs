using System.Runtime.InteropServices;

namespace Offload.Tensors.Storage;

/// <summary>64-byte aligned native host memory (NativeMemory.AlignedAlloc), zero-initialised.</summary>
public sealed unsafe class NativeStorage : TensorStorage
{
    /// <summary>Alignment of every native allocation (one cache line; also the AVX-512 vector width).</summary>
    public const int Alignment = 64;

    private static long s_liveBytes;
    private readonly byte* _pointer;
    private readonly long _length;

    public NativeStorage(long byteLength, bool zero = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        _length = byteLength;
        _pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(byteLength, 1), Alignment);
        if (zero) NativeMemory.Clear(_pointer, (nuint)byteLength);
        Interlocked.Add(ref s_liveBytes, byteLength);
    }

    /// <summary>Bytes of native tensor memory currently allocated in this process (for tests and telemetry).</summary>
    public static long LiveBytes => Interlocked.Read(ref s_liveBytes);

    public override byte* Pointer => _pointer;
    public override long ByteLength => _length;
    public override StorageKind Kind => StorageKind.Native;

    protected override void Free()
    {
        NativeMemory.AlignedFree(_pointer);
        Interlocked.Add(ref s_liveBytes, -_length);
    }
}
