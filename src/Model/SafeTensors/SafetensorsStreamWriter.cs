using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;

namespace Offload.Model.SafeTensors;

/// <summary>
/// Writes one safetensors file by streaming: the tensors' descriptors are declared up front (so the header is
/// written first), then their bytes are supplied in the declared order, whole (<see cref="Write"/>) or in chunks
/// (<see cref="BeginTensor"/> + <see cref="WriteBytes"/>). Nothing is buffered beyond the file stream's 64 KiB, so
/// memory stays bounded whatever the file size. The file is written under a temporary name in the same folder and
/// renamed by <see cref="Commit"/>; disposing without committing deletes it, so a failure never leaves a partial
/// file under the final name. Zero-size tensors need no data and may be skipped.
/// </summary>
public sealed class SafetensorsStreamWriter : IDisposable
{
    private const int StreamBufferBytes = 1 << 16; // small writes are batched; big ones bypass the buffer
    private const int CopyBufferBytes = 1 << 20;

    private readonly TensorDescriptor[] _tensors;
    private FileStream? _stream;
    private int _next;            // index of the tensor being written or next to begin
    private long _tensorWritten;  // bytes written of _tensors[_next], or -1 when none is begun
    private long _written;        // data bytes written so far
    private bool _completed;
    private bool _published;

    private SafetensorsStreamWriter(string path, string tempPath, TensorDescriptor[] tensors, byte[] header)
    {
        Path = path;
        TempPath = tempPath;
        _tensors = tensors;
        _tensorWritten = -1;
        long total = 0;
        foreach (var t in tensors) total += t.ByteLength;
        DataLength = total;
        try
        {
            _stream = new FileStream(tempPath, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = StreamBufferBytes,
                PreallocationSize = 8 + header.Length + total,
            });
            Span<byte> len = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            _stream.Write(len);
            _stream.Write(header);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Abort();
            if (ex is IOException io && SafetensorsText.IsDiskFull(io, tempPath, 8 + header.Length + total)) throw SafetensorsText.DiskFull(path);
            throw new SafetensorsException($"{SafetensorsText.OneLine(path)}: cannot create the file ({SafetensorsText.FirstLine(ex.Message)})");
        }
    }


    /// <summary>The final path (valid after <see cref="Commit"/>).</summary>
    public string Path { get; }

    /// <summary>Where the bytes go until the commit.</summary>
    public string TempPath { get; }

    /// <summary>The declared tensors, in file order.</summary>
    public IReadOnlyList<TensorDescriptor> Tensors => _tensors;

    /// <summary>Size of the data section (sum of the declared tensors' bytes).</summary>
    public long DataLength { get; }

    /// <summary>Data bytes written so far.</summary>
    public long DataWritten => _written;

    /// <summary>
    /// Starts writing a file at <paramref name="path"/> holding <paramref name="tensors"/> in this order, with an
    /// optional "__metadata__" map. Throws <see cref="ArgumentException"/> for a duplicate or reserved name.
    /// </summary>
    public static SafetensorsStreamWriter Create(string path, IReadOnlyList<TensorDescriptor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var full = System.IO.Path.GetFullPath(path);
        var dir = System.IO.Path.GetDirectoryName(full)!;
        var temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{TempToken()}.tmp");
        return CreateAt(full, temp, tensors, metadata);
    }

    internal static SafetensorsStreamWriter CreateAt(string path, string tempPath, IReadOnlyList<TensorDescriptor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var copy = new TensorDescriptor[tensors.Count];
        for (var i = 0; i < copy.Length; i++) copy[i] = tensors[i];
        var header = SafetensorsWriter.BuildHeader(copy, metadata);
        return new SafetensorsStreamWriter(path, tempPath, copy, header);
    }

    internal static string TempToken() => $"{Environment.ProcessId}-{Guid.NewGuid():N}";

    /// <summary>Writes the whole next tensor; <paramref name="name"/>, dtype and shape must match the declaration.</summary>
    // tensor: [declared shape] in the declared dtype, host-resident
    public void Write(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        EnsureOpen();
        // Check against the declaration before beginning, so a mismatch leaves the writer where it was.
        var due = _tensorWritten < 0 ? PeekNext(name) : null;
        if (due is not null && due.Name == name && (tensor.DType != due.DType || !tensor.Shape.SequenceEqual(due.Shape)))
            throw new ArgumentException($"tensor '{name}' is {tensor.DType.ToSafetensorsName()}[{string.Join(", ", tensor.Shape.ToArray())}] but was declared {due}", nameof(tensor));
        BeginTensor(name);
        WriteTensorData(tensor);
    }

    /// <summary>Begins the next declared tensor (zero-size tensors before it are skipped); returns its descriptor.</summary>
    public TensorDescriptor BeginTensor(string name)
    {
        EnsureOpen();
        if (_tensorWritten >= 0) throw new InvalidOperationException($"{Path}: tensor '{_tensors[_next].Name}' has {_tensors[_next].ByteLength - _tensorWritten} bytes still to write");
        while (_next < _tensors.Length && _tensors[_next].Name != name && _tensors[_next].ByteLength == 0) _next++;
        if (_next == _tensors.Length || _tensors[_next].Name != name)
            throw new InvalidOperationException(_next == _tensors.Length
                ? $"{Path}: tensor '{name}' is not declared, or was already written"
                : $"{Path}: tensor '{name}' supplied where '{_tensors[_next].Name}' is due (tensors must come in declared order)");
        var d = _tensors[_next];
        _tensorWritten = 0;
        if (d.ByteLength == 0) FinishTensor();
        return d;
    }

    /// <summary>True between <see cref="BeginTensor"/> and the last byte of that tensor.</summary>
    internal bool InTensor => _tensorWritten >= 0;

    /// <summary>The first tensor still due that is named <paramref name="name"/> or has bytes (zero-size ones may be skipped); null when none.</summary>
    internal TensorDescriptor? PeekNext(string? name)
    {
        for (var i = _next; i < _tensors.Length; i++)
            if (_tensors[i].ByteLength > 0 || _tensors[i].Name == name) return _tensors[i];
        return null;
    }

    /// <summary>Writes the next bytes of the tensor begun with <see cref="BeginTensor"/>; may not run past its end.</summary>
    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        EnsureOpen();
        if (_tensorWritten < 0) throw new InvalidOperationException($"{Path}: WriteBytes without BeginTensor");
        var d = _tensors[_next];
        if (bytes.Length > d.ByteLength - _tensorWritten)
            throw new ArgumentException($"{Path}: {bytes.Length} bytes exceed the {d.ByteLength - _tensorWritten} left of tensor '{d.Name}'", nameof(bytes));
        WriteRaw(bytes);
        _tensorWritten += bytes.Length;
        if (_tensorWritten == d.ByteLength) FinishTensor();
    }

    /// <summary>Flushes the file to disk and renames it to <see cref="Path"/> (replacing any file there).</summary>
    public void Commit()
    {
        Complete();
        Publish(Path);
    }

    /// <summary>Checks every declared byte was written, flushes to disk and closes; the file stays at <see cref="TempPath"/>.</summary>
    internal void Complete()
    {
        if (_completed) return;
        EnsureOpen();
        if (_tensorWritten >= 0) throw new InvalidOperationException($"{Path}: tensor '{_tensors[_next].Name}' has {_tensors[_next].ByteLength - _tensorWritten} bytes still to write");
        while (_next < _tensors.Length && _tensors[_next].ByteLength == 0) _next++;
        if (_next < _tensors.Length) throw new InvalidOperationException($"{Path}: tensor '{_tensors[_next].Name}' and {_tensors.Length - _next - 1} more were declared but not written");
        try
        {
            _stream!.Flush(flushToDisk: true);
            _stream.Dispose();
            _stream = null;
        }
        catch (IOException ex)
        {
            Abort();
            if (SafetensorsText.IsDiskFull(ex, TempPath, 0)) throw SafetensorsText.DiskFull(Path);
            throw new SafetensorsException($"{SafetensorsText.OneLine(Path)}: writing failed ({SafetensorsText.FirstLine(ex.Message)})");
        }
        _completed = true;
    }

    /// <summary>Renames the completed temporary file to <paramref name="finalPath"/>.</summary>
    internal void Publish(string finalPath)
    {
        if (!_completed) throw new InvalidOperationException($"{Path}: not complete");
        try
        {
            File.Move(TempPath, finalPath, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsException($"{SafetensorsText.OneLine(finalPath)}: cannot rename the finished file into place ({SafetensorsText.FirstLine(ex.Message)})");
        }
        _published = true;
    }

    /// <summary>Copies a whole data section from <paramref name="source"/> (exactly <see cref="DataLength"/> bytes) and completes every tensor.</summary>
    internal void CopyAllData(Stream source)
    {
        EnsureOpen();
        if (_written != 0 || _tensorWritten >= 0) throw new InvalidOperationException($"{Path}: data already started");
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            long left = DataLength;
            while (left > 0)
            {
                var n = source.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new InvalidOperationException($"{Path}: the source ended {left} bytes early");
                WriteRaw(buffer.AsSpan(0, n));
                left -= n;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        _next = _tensors.Length;
    }

    private unsafe void WriteTensorData(Tensor tensor)
    {
        if (tensor.Storage.Kind == StorageKind.Device) throw new InvalidOperationException($"tensor is on {tensor.Device}; copy it to the host before writing");
        const int chunk = 1 << 24;
        var p = tensor.Pointer;
        for (long done = 0; done < tensor.ByteLength; done += chunk)
            WriteBytes(new ReadOnlySpan<byte>(p + done, (int)Math.Min(chunk, tensor.ByteLength - done)));
    }

    private void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _stream!.Write(bytes);
        }
        catch (IOException ex)
        {
            Abort();
            if (SafetensorsText.IsDiskFull(ex, TempPath, bytes.Length)) throw SafetensorsText.DiskFull(Path);
            throw new SafetensorsException($"{SafetensorsText.OneLine(Path)}: writing failed ({SafetensorsText.FirstLine(ex.Message)})");
        }
        _written += bytes.Length;
    }

    private void FinishTensor()
    {
        _tensorWritten = -1;
        _next++;
    }

    private void EnsureOpen()
    {
        if (_stream is null) throw new InvalidOperationException($"{Path}: the writer is already committed or aborted");
    }

    /// <summary>Closes and deletes the temporary file (unless it was published).</summary>
    private void Abort()
    {
        try
        {
            _stream?.Dispose();
        }
        catch (IOException)
        {
            // the temporary file is deleted below; a failed flush of it does not matter
        }
        _stream = null;
        if (!_published) TryDelete(TempPath);
    }

    internal static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // best effort: a leftover hidden temporary file is harmless
        }
    }

    /// <summary>Without a commit, deletes the temporary file.</summary>
    public void Dispose()
    {
        if (!_published) Abort();
    }
}
