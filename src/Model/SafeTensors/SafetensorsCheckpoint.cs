using System.Text.Json;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.SafeTensors;

/// <summary>
/// The tensors of a Hugging Face checkpoint folder: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` ({"metadata": {...}, "weight_map": {tensor: shard file}}). Every shard is mapped
/// lazily; tensors are zero-copy views.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly Dictionary<string, SafetensorsFile> _byTensor;
    private readonly List<SafetensorsFile> _files;

    private SafetensorsCheckpoint(string directory, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> byTensor)
    {
        Directory = directory;
        _files = files;
        _byTensor = byTensor;
    }

    public string Directory { get; }
    public IReadOnlyList<SafetensorsFile> Files => _files;
    public IEnumerable<string> Names => _byTensor.Keys;
    public bool Contains(string name) => _byTensor.ContainsKey(name);

    public TensorDescriptor Descriptor(string name) => FileOf(name).Descriptor(name);

    /// <summary>A zero-copy view of the named tensor.</summary>
    public Tensor Get(string name) => FileOf(name).Get(name);

    private SafetensorsFile FileOf(string name) =>
        _byTensor.TryGetValue(name, out var f) ? f : throw new SafetensorsException($"{Directory}: checkpoint has no tensor '{name}'");

    /// <summary>Opens a checkpoint folder (or a single .safetensors file path).</summary>
    public static SafetensorsCheckpoint Open(string path)
    {
        if (File.Exists(path) && path.EndsWith(".safetensors", StringComparison.Ordinal))
        {
            var single = SafetensorsFile.Open(path);
            return new SafetensorsCheckpoint(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, [single], single.Tensors.ToDictionary(t => t.Name, _ => single));
        }
        if (!System.IO.Directory.Exists(path)) throw new SafetensorsException($"{path}: checkpoint folder not found");
        var index = System.IO.Path.Combine(path, IndexFileName);
        if (File.Exists(index)) return OpenIndexed(path, index);
        var file = System.IO.Path.Combine(path, SingleFileName);
        if (!File.Exists(file)) throw new SafetensorsException($"{path}: neither {SingleFileName} nor {IndexFileName} is in the folder");
        var f = SafetensorsFile.Open(file);
        return new SafetensorsCheckpoint(path, [f], f.Tensors.ToDictionary(t => t.Name, _ => f));
    }

    private static SafetensorsCheckpoint OpenIndexed(string dir, string index)
    {
        Dictionary<string, string> weightMap;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new SafetensorsException($"{index}: missing object 'weight_map'");
            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw new SafetensorsException($"{index}: weight_map entry '{p.Name}' is not a file name");
                weightMap[p.Name] = p.Value.GetString()!;
            }
        }
        catch (JsonException ex)
        {
            throw new SafetensorsException($"{index}: not valid JSON ({ex.Message.Split('\n')[0]})");
        }
        var files = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var byTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var (tensor, fileName) in weightMap)
            {
                if (fileName.Contains('/') || fileName.Contains('\\') || fileName.Contains("..", StringComparison.Ordinal))
                    throw new SafetensorsException($"{index}: shard name '{fileName}' for tensor '{tensor}' must be a plain file name in the folder");
                if (!files.TryGetValue(fileName, out var f))
                {
                    f = SafetensorsFile.Open(System.IO.Path.Combine(dir, fileName));
                    files[fileName] = f;
                }
                if (!f.Contains(tensor)) throw new SafetensorsException($"{index}: tensor '{tensor}' is mapped to {fileName}, which does not contain it");
                byTensor[tensor] = f;
            }
            foreach (var (fileName, f) in files)
                foreach (var t in f.Tensors)
                    if (!weightMap.ContainsKey(t.Name)) throw new SafetensorsException($"{System.IO.Path.Combine(dir, fileName)}: tensor '{t.Name}' is not listed in {IndexFileName}");
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
        return new SafetensorsCheckpoint(dir, files.Values.ToList(), byTensor);
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
