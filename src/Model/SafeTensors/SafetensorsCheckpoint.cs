using System.Text.Json;
using System.Text.Unicode;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.SafeTensors;

/// <summary>
/// The tensors of a Hugging Face checkpoint folder: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` ({"metadata": {"total_size": N}, "weight_map": {tensor: shard file}}). Every shard
/// is mapped lazily (only headers are read on open); tensors are zero-copy views. The index and the shards must
/// agree exactly: every listed tensor is in its shard, and every tensor of a shard is listed under that shard.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _byTensor;
    private readonly List<SafetensorsFile> _files;
    private readonly List<TensorDescriptor> _tensors;

    private SafetensorsCheckpoint(string directory, string? indexPath, long? totalSize, List<SafetensorsFile> files)
    {
        Directory = directory;
        IndexPath = indexPath;
        TotalSize = totalSize;
        _files = files;
        _byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        _tensors = [];
        foreach (var f in files)
        {
            foreach (var t in f.Tensors)
            {
                _byTensor.Add(t.Name, f);
                _tensors.Add(t);
            }
        }
    }

    public string Directory { get; }

    /// <summary>The index file, or null for a single-file checkpoint.</summary>
    public string? IndexPath { get; }

    /// <summary>The index's metadata.total_size when it has one (HF: bytes of all tensors).</summary>
    public long? TotalSize { get; }

    /// <summary>The shard files, in file-name order.</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>Tensor names in storage order (shard by shard, by offset within a shard).</summary>
    public IEnumerable<string> Names => _byTensor.Keys;

    /// <summary>Every tensor's descriptor, in storage order.</summary>
    public IReadOnlyList<TensorDescriptor> Tensors => _tensors;

    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public TensorDescriptor Descriptor(string name) => FileOf(name).Descriptor(name);

    /// <summary>A zero-copy view of the named tensor (dispose it when done).</summary>
    // returns: [shape as stored] in the stored dtype, read-only, host
    public Tensor Get(string name) => FileOf(name).Get(name);

    /// <summary>The shard that holds the named tensor.</summary>
    public SafetensorsFile FileOf(string name) =>
        _byTensor.TryGetValue(name, out var f)
            ? f
            : throw new SafetensorsException($"{SafetensorsText.OneLine(Directory)}: checkpoint has no tensor named {SafetensorsText.Quote(name)}");

    /// <summary>
    /// Opens a checkpoint folder (index if present, else model.safetensors), an index file, or a single .safetensors
    /// file. Any defect raises <see cref="SafetensorsException"/> naming the file and the tensor at fault.
    /// </summary>
    public static SafetensorsCheckpoint Open(string path)
    {
        if (File.Exists(path))
        {
            var full = Path.GetFullPath(path);
            var dir = Path.GetDirectoryName(full)!;
            if (full.EndsWith(".json", StringComparison.Ordinal)) return OpenIndexed(dir, full);
            var single = SafetensorsFile.Open(path);
            return new SafetensorsCheckpoint(dir, null, null, [single]);
        }
        if (!System.IO.Directory.Exists(path)) throw new SafetensorsException($"{SafetensorsText.OneLine(path)}: checkpoint folder not found");
        var index = Path.Combine(path, IndexFileName);
        if (File.Exists(index)) return OpenIndexed(path, index);
        var file = Path.Combine(path, SingleFileName);
        if (!File.Exists(file)) throw new SafetensorsException($"{SafetensorsText.OneLine(path)}: neither {SingleFileName} nor {IndexFileName} is in the folder");
        return new SafetensorsCheckpoint(path, null, null, [SafetensorsFile.Open(file)]);
    }

    private static SafetensorsCheckpoint OpenIndexed(string dir, string index)
    {
        var (weightMap, totalSize) = ReadIndex(index);
        var where = SafetensorsText.OneLine(index);
        var files = new SortedDictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var (tensor, fileName) in weightMap)
            {
                if (!files.TryGetValue(fileName, out var f))
                {
                    var shardPath = Path.Combine(dir, fileName);
                    if (!File.Exists(shardPath))
                        throw new SafetensorsException($"{where}: tensor {SafetensorsText.Quote(tensor)}: its shard {SafetensorsText.Quote(fileName)} is not in the folder");
                    f = SafetensorsFile.Open(shardPath);
                    files.Add(fileName, f);
                }
                if (!f.Contains(tensor))
                    throw new SafetensorsException($"{where}: tensor {SafetensorsText.Quote(tensor)}: mapped to {SafetensorsText.Quote(fileName)}, which does not contain it");
            }
            foreach (var (fileName, f) in files)
            {
                foreach (var t in f.Tensors)
                {
                    if (!weightMap.TryGetValue(t.Name, out var listed))
                        throw new SafetensorsException($"{SafetensorsText.OneLine(f.Path)}: tensor {SafetensorsText.Quote(t.Name)}: not listed in {IndexFileName}");
                    if (listed != fileName)
                        throw new SafetensorsException($"{SafetensorsText.OneLine(f.Path)}: tensor {SafetensorsText.Quote(t.Name)}: also stored in this shard, but {IndexFileName} maps it to {SafetensorsText.Quote(listed)}");
                }
            }
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
        return new SafetensorsCheckpoint(dir, index, totalSize, [.. files.Values]);
    }

    private static (Dictionary<string, string> WeightMap, long? TotalSize) ReadIndex(string index)
    {
        var where = SafetensorsText.OneLine(index);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(index);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SafetensorsException($"{where}: cannot read the index ({SafetensorsText.FirstLine(ex.Message)})");
        }
        var json = bytes.AsMemory();
        if (json.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) json = json[3..];
        if (!Utf8.IsValid(json.Span)) throw new SafetensorsException($"{where}: index is not valid UTF-8");
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new SafetensorsException($"{where}: index must be a JSON object, not {root.ValueKind}");
            JsonElement? weightMapEl = null;
            long? totalSize = null;
            var rootKeys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!rootKeys.Add(p.Name)) throw new SafetensorsException($"{where}: index has the key {SafetensorsText.Quote(p.Name)} twice");
                if (p.Name == "weight_map") weightMapEl = p.Value;
                else if (p.Name == "metadata")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new SafetensorsException($"{where}: index 'metadata' must be an object, not {p.Value.ValueKind}");
                    var metaKeys = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var m in p.Value.EnumerateObject())
                    {
                        if (!metaKeys.Add(m.Name)) throw new SafetensorsException($"{where}: index metadata has the key {SafetensorsText.Quote(m.Name)} twice");
                        if (m.Name == "total_size")
                        {
                            // HF writes an integer; some tools write it as a float with no fraction.
                            if (m.Value.ValueKind != JsonValueKind.Number) throw new SafetensorsException($"{where}: index metadata.total_size must be a number");
                            if (m.Value.TryGetInt64(out var ts)) totalSize = ts;
                            else if (m.Value.TryGetDouble(out var td) && td >= 0 && td == Math.Floor(td) && td < 9.2e18) totalSize = (long)td;
                            else throw new SafetensorsException($"{where}: index metadata.total_size {SafetensorsText.OneLine(m.Value.GetRawText())} is not a byte count");
                        }
                    }
                }
            }
            if (weightMapEl is not { ValueKind: JsonValueKind.Object } wm)
                throw new SafetensorsException($"{where}: index has no 'weight_map' object (expected {{\"weight_map\": {{tensor: shard file}}}})");
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                var tensor = SafetensorsText.Quote(p.Name);
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new SafetensorsException($"{where}: tensor {tensor}: weight_map value must be a shard file name, not {p.Value.ValueKind}");
                var fileName = p.Value.GetString()!;
                if (!IsPlainFileName(fileName))
                    throw new SafetensorsException($"{where}: tensor {tensor}: shard name {SafetensorsText.Quote(fileName)} must be a plain file name in the checkpoint folder");
                if (!weightMap.TryAdd(p.Name, fileName))
                    throw new SafetensorsException($"{where}: tensor {tensor}: listed twice in weight_map");
            }
            return (weightMap, totalSize);
        }
        catch (JsonException ex)
        {
            throw new SafetensorsException($"{where}: index is not valid JSON ({SafetensorsText.FirstLine(ex.Message)})");
        }
        catch (InvalidOperationException ex)
        {
            throw new SafetensorsException($"{where}: index holds an invalid string ({SafetensorsText.FirstLine(ex.Message)})");
        }
    }

    private static bool IsPlainFileName(string name) =>
        name.Length > 0 && name is not ("." or "..") && name.IndexOfAny(['/', '\\', '\0']) < 0;

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
