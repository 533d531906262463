namespace Offload.Tensors.Storage;

/// <summary>A read-only zero-copy view of part of a <see cref="MappedFile"/>.</summary>
public sealed unsafe class MappedStorage : TensorStorage
{
    private readonly MappedFile _file;
    private readonly long _offset;
    private readonly long _length;

    internal MappedStorage(MappedFile file, long offset, long length)
    {
        _file = file;
        _offset = offset;
        _length = length;
    }

    public MappedFile File => _file;
    public override byte* Pointer => _file.Pointer + _offset;
    public override long ByteLength => _length;
    public override StorageKind Kind => StorageKind.Mapped;
    public override bool IsWritable => false;

    /// <summary>Drops this view's pages from the process's resident set (<see cref="MappedFile.DropResident"/>).</summary>
    public void DropResident() => _file.DropResident(_offset, _length);

    protected override void Free() => _file.Release();
}
