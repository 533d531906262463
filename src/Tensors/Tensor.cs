using System.Runtime.InteropServices;
using Offload.Protocol;
using Offload.Tensors.Storage;

namespace Offload.Tensors;

/// <summary>
/// A contiguous, row-major tensor: shape + dtype + device over a reference-counted <see cref="TensorStorage"/>.
/// A tensor created by a factory owns one reference to its storage; views (<see cref="Slice"/>, <see cref="Reshape"/>)
/// take their own, so any order of disposal is safe and the memory is freed exactly once, after the last user.
/// </summary>
public sealed unsafe class Tensor : IDisposable
{
    private readonly long[] _shape;
    private int _disposed;

    private Tensor(TensorStorage storage, long byteOffset, DType dtype, long[] shape, DeviceId device)
    {
        Storage = storage;
        ByteOffset = byteOffset;
        DType = dtype;
        _shape = shape;
        Device = device;
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            n = checked(n * d);
        }
        ElementCount = n;
        ByteLength = checked(n * dtype.SizeOf());
        if (byteOffset < 0 || byteOffset + ByteLength > storage.ByteLength)
            throw new ArgumentException($"tensor of {ByteLength} bytes at offset {byteOffset} does not fit a storage of {storage.ByteLength} bytes");
    }

    public TensorStorage Storage { get; }
    public long ByteOffset { get; }
    public DType DType { get; }
    public DeviceId Device { get; }
    public long ElementCount { get; }
    public long ByteLength { get; }
    public ReadOnlySpan<long> Shape => _shape;
    public int Rank => _shape.Length;
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Size of dimension <paramref name="dim"/> (negative counts from the end).</summary>
    public long Dim(int dim) => _shape[dim < 0 ? _shape.Length + dim : dim];

    /// <summary>Start of this tensor's bytes (host-addressable unless the storage is on an accelerator).</summary>
    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return Storage.Pointer + ByteOffset;
        }
    }

    // ---- factories -------------------------------------------------------------------------------------------

    /// <summary>A zero-filled tensor in 64-byte aligned native memory.</summary>
    public static Tensor Zeros(DType dtype, params long[] shape) => Zeros(dtype, DeviceId.Host, shape);

    public static Tensor Zeros(DType dtype, DeviceId device, params long[] shape)
    {
        var bytes = ByteCount(dtype, shape);
        return new Tensor(new NativeStorage(bytes), 0, dtype, (long[])shape.Clone(), device);
    }

    /// <summary>An uninitialised native tensor (for outputs that are fully overwritten).</summary>
    public static Tensor Empty(DType dtype, params long[] shape)
    {
        var bytes = ByteCount(dtype, shape);
        return new Tensor(new NativeStorage(bytes, zero: false), 0, dtype, (long[])shape.Clone(), DeviceId.Host);
    }

    /// <summary>A tensor in a pinned managed array.</summary>
    public static Tensor ZerosManaged(DType dtype, params long[] shape)
    {
        var bytes = ByteCount(dtype, shape);
        return new Tensor(new ManagedStorage(bytes), 0, dtype, (long[])shape.Clone(), DeviceId.Host);
    }

    /// <summary>Copies <paramref name="data"/> into a new native tensor of the dtype matching <typeparamref name="T"/>.</summary>
    public static Tensor FromSpan<T>(ReadOnlySpan<T> data, params long[] shape) where T : unmanaged
    {
        var dtype = DTypeOf<T>();
        var t = Empty(dtype, shape);
        if (t.ElementCount != data.Length)
        {
            t.Dispose();
            throw new ArgumentException($"{data.Length} values do not fill shape [{string.Join(", ", shape)}]", nameof(data));
        }
        data.CopyTo(t.Span<T>());
        return t;
    }

    public static Tensor FromArray(float[] data, params long[] shape) => FromSpan<float>(data, shape);
    public static Tensor FromArray(double[] data, params long[] shape) => FromSpan<double>(data, shape);

    /// <summary>A zero-copy read-only view of <paramref name="byteLength"/> bytes of a mapped file.</summary>
    public static Tensor FromMapped(MappedFile file, long offset, DType dtype, long[] shape)
    {
        var storage = file.View(offset, ByteCount(dtype, shape));
        return new Tensor(storage, 0, dtype, (long[])shape.Clone(), DeviceId.Host);
    }

    /// <summary>Wraps an existing storage; the tensor takes over the caller's reference.</summary>
    public static Tensor Wrap(TensorStorage storage, long byteOffset, DType dtype, long[] shape, DeviceId device) =>
        new(storage, byteOffset, dtype, (long[])shape.Clone(), device);

    // ---- views -----------------------------------------------------------------------------------------------

    /// <summary>Rows [start, start+count) along the first dimension, sharing storage.</summary>
    public Tensor Slice(long start, long count)
    {
        if (Rank == 0) throw new InvalidOperationException("cannot slice a scalar tensor");
        if (start < 0 || count < 0 || start + count > _shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"rows [{start}, {start + count}) outside dimension 0 of size {_shape[0]}");
        var rowBytes = _shape[0] == 0 ? 0 : ByteLength / _shape[0];
        var shape = (long[])_shape.Clone();
        shape[0] = count;
        Storage.AddRef();
        return new Tensor(Storage, ByteOffset + start * rowBytes, DType, shape, Device);
    }

    /// <summary>The same bytes under another shape with the same element count; one dimension may be -1.</summary>
    public Tensor Reshape(params long[] shape)
    {
        var s = (long[])shape.Clone();
        var infer = Array.IndexOf(s, -1L);
        if (infer >= 0)
        {
            long rest = 1;
            for (var i = 0; i < s.Length; i++) if (i != infer) rest *= s[i];
            s[infer] = rest == 0 ? 0 : ElementCount / rest;
        }
        long n = 1;
        foreach (var d in s) n *= d;
        if (n != ElementCount) throw new ArgumentException($"cannot reshape [{string.Join(", ", _shape)}] to [{string.Join(", ", shape)}]");
        Storage.AddRef();
        return new Tensor(Storage, ByteOffset, DType, s, Device);
    }

    /// <summary>Another reference to the same bytes (dispose it independently).</summary>
    public Tensor Share() => Reshape(_shape);

    /// <summary>The same bytes as a U8 tensor of shape [<see cref="ByteLength"/>] (another reference; dispose it
    /// independently): byte ranges of a tensor of any size, e.g. for the data plane's framing.</summary>
    public Tensor AsBytes()
    {
        Storage.AddRef();
        return new Tensor(Storage, ByteOffset, DType.U8, [ByteLength], Device);
    }

    // ---- data access -----------------------------------------------------------------------------------------

    /// <summary>The elements as a span; <typeparamref name="T"/> must match the dtype's size and the data be host-resident.</summary>
    public Span<T> Span<T>() where T : unmanaged
    {
        CheckHostAccess<T>();
        if (!Storage.IsWritable) throw new InvalidOperationException("tensor is a read-only view of a mapped file; use ReadOnlySpan or copy it");
        return new Span<T>(Pointer, checked((int)ElementCount));
    }

    /// <summary>Read-only access to the elements (works on mapped views too).</summary>
    public ReadOnlySpan<T> ReadOnlySpan<T>() where T : unmanaged
    {
        CheckHostAccess<T>();
        return new ReadOnlySpan<T>(Pointer, checked((int)ElementCount));
    }

    /// <summary>The raw bytes.</summary>
    public ReadOnlySpan<byte> Bytes()
    {
        if (Storage.Kind == StorageKind.Device) throw new InvalidOperationException($"tensor is on {Device}; copy it to the host first");
        return new ReadOnlySpan<byte>(Pointer, checked((int)ByteLength));
    }

    private void CheckHostAccess<T>() where T : unmanaged
    {
        if (sizeof(T) != DType.SizeOf()) throw new InvalidOperationException($"{typeof(T).Name} does not match dtype {DType}");
        if (Storage.Kind == StorageKind.Device) throw new InvalidOperationException($"tensor is on {Device}; copy it to the host first");
        if (ElementCount > Array.MaxLength) throw new InvalidOperationException($"tensor of {ElementCount} elements is too large for one span; slice it");
    }

    // ---- conversions -----------------------------------------------------------------------------------------

    /// <summary>A new tensor with the values converted to <paramref name="dtype"/> (f32→bf16/f16 round to nearest even).</summary>
    public Tensor To(DType dtype)
    {
        var result = Empty(dtype, _shape);
        try
        {
            TensorConvert.Copy(this, result);
        }
        catch
        {
            result.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>A copy of this tensor placed on <paramref name="device"/> (CPU virtual devices share host memory).</summary>
    public Tensor To(DeviceId device)
    {
        if (device.Kind != DeviceKind.Cpu) throw new NotSupportedException($"no backend for {device} is loaded in this process");
        var result = new Tensor(new NativeStorage(ByteLength, zero: false), 0, DType, (long[])_shape.Clone(), device);
        Buffer.MemoryCopy(Pointer, result.Pointer, ByteLength, ByteLength);
        return result;
    }

    /// <summary>
    /// This tensor's bytes as a tensor of <paramref name="device"/>, without a copy (another reference; dispose it
    /// independently): a CPU virtual device's memory is host memory, so a host tensor that is never written in place (a
    /// parameter: replacing one makes a new tensor) can serve the device as it is.
    /// </summary>
    public Tensor ShareOn(DeviceId device)
    {
        if (device.Kind != DeviceKind.Cpu) throw new NotSupportedException($"{device} does not share host memory");
        Storage.AddRef();
        return new Tensor(Storage, ByteOffset, DType, (long[])_shape.Clone(), device);
    }

    /// <summary>A writable native copy (same dtype and device).</summary>
    public Tensor Clone()
    {
        var result = new Tensor(new NativeStorage(ByteLength, zero: false), 0, DType, (long[])_shape.Clone(), Device);
        Buffer.MemoryCopy(Pointer, result.Pointer, ByteLength, ByteLength);
        return result;
    }

    /// <summary>The values as f32 (a copy), whatever the float dtype.</summary>
    public float[] ToFloatArray()
    {
        var result = new float[checked((int)ElementCount)];
        TensorConvert.ToF32(this, result);
        return result;
    }

    /// <summary>The values as f64 (a copy), whatever the numeric dtype.</summary>
    public double[] ToDoubleArray()
    {
        var f = new double[checked((int)ElementCount)];
        TensorConvert.ToF64(this, f);
        return f;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Storage.Release();
    }

    public override string ToString() => $"Tensor({DType}[{string.Join(", ", _shape)}] on {Device}, {Storage.Kind})";

    internal static long ByteCount(DType dtype, long[] shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape [{string.Join(", ", shape)}]", nameof(shape));
            n = checked(n * d);
        }
        return checked(n * dtype.SizeOf());
    }

    /// <summary>The dtype that a C# element type stands for (ushort is read as bf16 bits; use Half for f16).</summary>
    public static DType DTypeOf<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.F32;
        if (typeof(T) == typeof(double)) return DType.F64;
        if (typeof(T) == typeof(Half)) return DType.F16;
        if (typeof(T) == typeof(ushort)) return DType.BF16;
        if (typeof(T) == typeof(long)) return DType.I64;
        if (typeof(T) == typeof(int)) return DType.I32;
        if (typeof(T) == typeof(short)) return DType.I16;
        if (typeof(T) == typeof(sbyte)) return DType.I8;
        if (typeof(T) == typeof(byte)) return DType.U8;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"no dtype for {typeof(T).Name}");
    }
}
