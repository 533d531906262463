namespace Offload.Tensors.Storage;

/// <summary>
/// A block of bytes shared by one or more <see cref="Tensor"/> views. Reference counted: every tensor that uses the
/// storage holds one reference and releases it on dispose; the memory is freed exactly once, when the last goes.
/// </summary>
public abstract unsafe class TensorStorage
{
    private int _refCount = 1;

    /// <summary>Start of the bytes (host-addressable for every kind but <see cref="StorageKind.Device"/>).</summary>
    public abstract byte* Pointer { get; }

    /// <summary>Length in bytes.</summary>
    public abstract long ByteLength { get; }

    public abstract StorageKind Kind { get; }

    /// <summary>False for mapped checkpoint views, which must never be written.</summary>
    public virtual bool IsWritable => true;

    /// <summary>True once the last reference is gone and the memory has been freed.</summary>
    public bool IsReleased => Volatile.Read(ref _refCount) <= 0;

    internal void AddRef()
    {
        while (true)
        {
            var current = Volatile.Read(ref _refCount);
            if (current <= 0) throw new ObjectDisposedException(GetType().Name, "tensor storage was already freed");
            if (Interlocked.CompareExchange(ref _refCount, current + 1, current) == current) return;
        }
    }

    internal void Release()
    {
        var left = Interlocked.Decrement(ref _refCount);
        if (left == 0) Free();
        else if (left < 0) throw new InvalidOperationException("tensor storage released more often than referenced");
    }

    /// <summary>Frees the memory; called exactly once.</summary>
    protected abstract void Free();
}
