using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;

namespace Offload.Model.SafeTensors;

/// <summary>
/// One safetensors file, memory-mapped and read lazily: opening maps the file and parses only the header; a tensor
/// is a zero-copy read-only view of the mapping, made when asked for (no copy, no read call). Offsets are 64-bit,
/// so files and tensors past 4 GiB work. Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
/// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}} (offsets relative to the data
/// start 8 + N), then the data. Validation rules: <see cref="SafetensorsHeader"/>.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly MappedFile _file;
    private readonly Dictionary<string, SafetensorsHeader.Entry> _entries;
    private readonly TensorDescriptor[] _order;

    private SafetensorsFile(string path, MappedFile file, SafetensorsHeader header, long dataStart)
    {
        Path = path;
        _file = file;
        _entries = header.Entries;
        _order = new TensorDescriptor[header.Order.Length];
        for (var i = 0; i < _order.Length; i++) _order[i] = header.Order[i].Descriptor;
        Metadata = header.Metadata;
        DataStart = dataStart;
    }

    public string Path { get; }

    /// <summary>Size of the file in bytes.</summary>
    public long Length => _file.Length;

    /// <summary>The tensors in file order (by data offset).</summary>
    public IReadOnlyList<TensorDescriptor> Tensors => _order;

    /// <summary>The "__metadata__" string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Absolute file offset where the data section starts (8 + header length).</summary>
    public long DataStart { get; }

    public bool Contains(string name) => _entries.ContainsKey(name);

    public TensorDescriptor Descriptor(string name) => Find(name).Descriptor;

    /// <summary>Where the tensor's bytes lie in the file: absolute offset and length (for Range requests, direct I/O).</summary>
    public (long Offset, long Length) ByteRange(string name)
    {
        var e = Find(name);
        return (DataStart + e.Begin, e.End - e.Begin);
    }

    /// <summary>A zero-copy read-only view of the tensor's bytes in the mapped file (dispose it; the mapping lives until the last view goes).</summary>
    // returns: [shape as stored] in the stored dtype, read-only, host
    public Tensor Get(string name)
    {
        var e = Find(name);
        return Tensor.FromMapped(_file, DataStart + e.Begin, e.Descriptor.DType, e.Descriptor.Shape);
    }

    /// <summary>Like <see cref="Get"/>, but false instead of an exception when the file has no such tensor.</summary>
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Tensor? tensor)
    {
        if (!_entries.TryGetValue(name, out var e))
        {
            tensor = null;
            return false;
        }
        tensor = Tensor.FromMapped(_file, DataStart + e.Begin, e.Descriptor.DType, e.Descriptor.Shape);
        return true;
    }

    private SafetensorsHeader.Entry Find(string name) =>
        _entries.TryGetValue(name, out var e)
            ? e
            : throw new SafetensorsException($"{SafetensorsText.OneLine(Path)}: no tensor named {SafetensorsText.Quote(name)} in the file");

    /// <summary>Maps and validates a file; any defect raises <see cref="SafetensorsException"/> naming the file and tensor.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (Directory.Exists(path)) throw new SafetensorsException($"{SafetensorsText.OneLine(path)}: is a folder, not a safetensors file (open folders with SafetensorsCheckpoint.Open)");
        if (!File.Exists(path)) throw new SafetensorsException($"{SafetensorsText.OneLine(path)}: file not found");
        MappedFile file;
        try
        {
            file = new MappedFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsException($"{SafetensorsText.OneLine(path)}: cannot map the file ({SafetensorsText.FirstLine(ex.Message)})");
        }
        try
        {
            return new SafetensorsFile(path, file, ParseHeader(path, file, out var dataStart), dataStart);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static unsafe SafetensorsHeader ParseHeader(string path, MappedFile file, out long dataStart)
    {
        var where = SafetensorsText.OneLine(path);
        if (file.Length < 8)
            throw new SafetensorsException($"{where}: truncated file ({file.Length} bytes; a safetensors file starts with an 8-byte header length)");
        var headerLength = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(file.Pointer, 8));
        if (headerLength > (ulong)(file.Length - 8))
            throw new SafetensorsException($"{where}: header length {headerLength} runs past the end of the file ({file.Length} bytes): the file is truncated or not safetensors");
        if (headerLength > SafetensorsHeader.MaxHeaderLength)
            throw new SafetensorsException($"{where}: header length {headerLength} exceeds the {SafetensorsHeader.MaxHeaderLength}-byte limit of the format");
        dataStart = 8 + (long)headerLength;
        var header = new ReadOnlySpan<byte>(file.Pointer + 8, (int)headerLength);
        return SafetensorsHeader.Parse(path, header, file.Length - dataStart);
    }

    public void Dispose() => _file.Dispose();
}
