using System.Text;
using System.Text.Json;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;

namespace Offload.Model.SafeTensors;

/// <summary>
/// One safetensors file, memory-mapped and read lazily: the header is parsed and validated on open, and each
/// tensor is a zero-copy view of the mapping when asked for. Layout: u64 little-endian header length N, N bytes of
/// UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly MappedFile _file;
    private readonly Dictionary<string, Entry> _entries;
    private readonly List<TensorDescriptor> _order;

    private readonly record struct Entry(TensorDescriptor Descriptor, long Begin, long End);

    private SafetensorsFile(string path, MappedFile file, Dictionary<string, Entry> entries, List<TensorDescriptor> order, Dictionary<string, string> metadata, long dataStart)
    {
        Path = path;
        _file = file;
        _entries = entries;
        _order = order;
        Metadata = metadata;
        DataStart = dataStart;
    }

    public string Path { get; }

    /// <summary>The tensors in file order (by data offset).</summary>
    public IReadOnlyList<TensorDescriptor> Tensors => _order;

    /// <summary>The "__metadata__" string map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Absolute file offset where the data section starts (8 + header length).</summary>
    public long DataStart { get; }

    public bool Contains(string name) => _entries.ContainsKey(name);

    public TensorDescriptor Descriptor(string name) => Find(name).Descriptor;

    /// <summary>A zero-copy read-only view of the tensor's bytes in the mapped file.</summary>
    public Tensor Get(string name)
    {
        var e = Find(name);
        return Tensor.FromMapped(_file, DataStart + e.Begin, e.Descriptor.DType, e.Descriptor.Shape);
    }

    private Entry Find(string name) =>
        _entries.TryGetValue(name, out var e) ? e : throw new SafetensorsException($"{Path}: no tensor named '{name}'");

    /// <summary>Opens and validates a file; any defect raises <see cref="SafetensorsException"/> naming the file and tensor.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new SafetensorsException($"{path}: file not found");
        var file = new MappedFile(path);
        try
        {
            var (entries, order, metadata, dataStart) = ParseHeader(path, file);
            return new SafetensorsFile(path, file, entries, order, metadata, dataStart);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, Entry>, List<TensorDescriptor>, Dictionary<string, string>, long) ParseHeader(string path, MappedFile file)
    {
        if (file.Length < 8) throw new SafetensorsException($"{path}: truncated file ({file.Length} bytes; a safetensors file starts with an 8-byte header length)");
        var headerLength = BitConverter.ToUInt64(file.Bytes(0, 8));
        if (headerLength > (ulong)(file.Length - 8)) throw new SafetensorsException($"{path}: header length {headerLength} runs past the end of the file ({file.Length} bytes)");
        if (headerLength > 100_000_000) throw new SafetensorsException($"{path}: header length {headerLength} exceeds the 100 MB limit");
        var headerBytes = file.Bytes(8, (int)headerLength);
        string json;
        try
        {
            json = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(headerBytes);
        }
        catch (DecoderFallbackException)
        {
            throw new SafetensorsException($"{path}: header is not valid UTF-8");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException ex)
        {
            throw new SafetensorsException($"{path}: header is not valid JSON ({ex.Message.Split('\n')[0]})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new SafetensorsException($"{path}: header must be a JSON object");
            var dataStart = 8 + (long)headerLength;
            var dataLength = file.Length - dataStart;
            var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw new SafetensorsException($"{path}: __metadata__ must be an object of strings");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new SafetensorsException($"{path}: __metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                if (entries.ContainsKey(prop.Name)) throw new SafetensorsException($"{path}: tensor '{prop.Name}': duplicate name");
                entries[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataLength);
            }
            var order = entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
            long expected = 0;
            foreach (var e in order)
            {
                if (e.Begin < expected) throw new SafetensorsException($"{path}: tensor '{e.Descriptor.Name}': data_offsets [{e.Begin}, {e.End}) overlap the previous tensor (ends at {expected})");
                if (e.Begin > expected) throw new SafetensorsException($"{path}: tensor '{e.Descriptor.Name}': gap in the data before offset {e.Begin} (previous tensor ends at {expected})");
                expected = e.End;
            }
            if (expected != dataLength) throw new SafetensorsException($"{path}: data section is {dataLength} bytes but the tensors cover {expected}");
            return (entries, order.Select(e => e.Descriptor).ToList(), metadata, dataStart);
        }
    }

    private static Entry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        string Where() => $"{path}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object) throw new SafetensorsException($"{Where()}: entry must be an object with dtype, shape and data_offsets");
        JsonElement dtypeEl = default, shapeEl = default, offsetsEl = default;
        var seen = 0;
        foreach (var p in value.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype": dtypeEl = p.Value; seen |= 1; break;
                case "shape": shapeEl = p.Value; seen |= 2; break;
                case "data_offsets": offsetsEl = p.Value; seen |= 4; break;
                default: throw new SafetensorsException($"{Where()}: unknown key '{p.Name}'");
            }
        }
        if ((seen & 1) == 0) throw new SafetensorsException($"{Where()}: missing 'dtype'");
        if ((seen & 2) == 0) throw new SafetensorsException($"{Where()}: missing 'shape'");
        if ((seen & 4) == 0) throw new SafetensorsException($"{Where()}: missing 'data_offsets'");
        if (dtypeEl.ValueKind != JsonValueKind.String || !DTypeNames.TryParseSafetensorsName(dtypeEl.GetString()!, out var dtype))
            throw new SafetensorsException($"{Where()}: unsupported dtype {dtypeEl.GetRawText()} (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
        if (shapeEl.ValueKind != JsonValueKind.Array) throw new SafetensorsException($"{Where()}: shape must be an array of non-negative integers");
        var shape = new long[shapeEl.GetArrayLength()];
        var i = 0;
        long count = 1;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim)) throw new SafetensorsException($"{Where()}: shape entry {d.GetRawText()} is not an integer");
            if (dim < 0) throw new SafetensorsException($"{Where()}: negative dimension {dim} in shape");
            shape[i++] = dim;
            try { count = checked(count * dim); }
            catch (OverflowException) { throw new SafetensorsException($"{Where()}: shape [{string.Join(", ", shape)}] overflows 64 bits"); }
        }
        if (offsetsEl.ValueKind != JsonValueKind.Array || offsetsEl.GetArrayLength() != 2) throw new SafetensorsException($"{Where()}: data_offsets must be [begin, end]");
        var begin = offsetsEl[0];
        var end = offsetsEl[1];
        if (!begin.TryGetInt64(out var b) || !end.TryGetInt64(out var e) || b < 0 || e < b)
            throw new SafetensorsException($"{Where()}: data_offsets {offsetsEl.GetRawText()} are not 0 ≤ begin ≤ end");
        if (e > dataLength) throw new SafetensorsException($"{Where()}: data_offsets end {e} is beyond the data section ({dataLength} bytes)");
        long bytes;
        try { bytes = checked(count * dtype.SizeOf()); }
        catch (OverflowException) { throw new SafetensorsException($"{Where()}: shape × dtype size overflows 64 bits"); }
        if (e - b != bytes) throw new SafetensorsException($"{Where()}: {dtype.ToSafetensorsName()}[{string.Join(", ", shape)}] needs {bytes} bytes but data_offsets span {e - b}");
        return new Entry(new TensorDescriptor(name, dtype, shape), b, e);
    }

    public void Dispose() => _file.Dispose();
}
