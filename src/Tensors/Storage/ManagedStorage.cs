namespace Offload.Tensors.Storage;

/// <summary>A pinned managed byte array (allocated on the pinned object heap, so its address never moves).</summary>
public sealed unsafe class ManagedStorage : TensorStorage
{
    private readonly byte[] _array;

    public ManagedStorage(long byteLength)
    {
        if (byteLength > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(byteLength), byteLength, "managed storage is limited to Array.MaxLength bytes; use native storage");
        _array = GC.AllocateArray<byte>((int)byteLength, pinned: true);
    }

    public override byte* Pointer => (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(_array));
    public override long ByteLength => _array.LongLength;
    public override StorageKind Kind => StorageKind.Managed;

    protected override void Free()
    {
        // The GC reclaims the array once no tensor references it.
    }
}
