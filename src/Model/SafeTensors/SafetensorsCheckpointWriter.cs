using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;

namespace Offload.Model.SafeTensors;

/// <summary>
/// Writes a Hugging Face checkpoint folder by streaming, with memory bounded by a few MiB whatever the size:
/// shards of at most <see cref="MaxShardBytes"/> tensor bytes named `model-00001-of-00003.safetensors`, then
/// `model.safetensors.index.json` ({"metadata": {"total_size": N}, "weight_map": {...}}); a single shard is named
/// `model.safetensors` and gets no index, as HF does. Two ways to feed it:
/// <list type="bullet">
/// <item><see cref="Create"/> with every descriptor declared up front: each shard's header is written first and
/// the data goes straight to the shard file (one pass).</item>
/// <item><see cref="CreateIncremental"/> when tensors are only known as they come: each shard's data is spilled to
/// a hidden file and copied behind its header when the shard is full (one extra sequential copy per shard).</item>
/// </list>
/// Either way tensors are supplied in order, whole (<see cref="Write"/>) or in chunks (<see cref="BeginTensor"/> +
/// <see cref="WriteBytes"/>). Sharding: a tensor opens a new shard when it would push a non-empty shard past the
/// limit; a tensor bigger than the limit sits alone in its shard; shards keep the supplied order (HF moves
/// oversized tensors ahead instead). Every file is written under a hidden temporary name; <see cref="Commit"/>
/// renames the shards into place and writes the index last, then deletes stale shards of an earlier checkpoint in
/// the folder. Disposing without committing deletes every temporary file and leaves the folder as it was.
/// Each shard's "__metadata__" carries the given metadata plus "format": "pt" (transformers requires it).
/// </summary>
public sealed partial class SafetensorsCheckpointWriter : IDisposable
{
    /// <summary>HF's default max_shard_size, "5GB".</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    private readonly Dictionary<string, string> _metadata;
    private readonly string _token = SafetensorsStreamWriter.TempToken();
    private readonly List<SafetensorsStreamWriter> _done = [];
    private readonly List<IReadOnlyList<TensorDescriptor>> _doneTensors = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    // declared mode
    private readonly IReadOnlyList<IReadOnlyList<TensorDescriptor>>? _plan;
    private SafetensorsStreamWriter? _shard;

    // incremental mode
    private FileStream? _spill;
    private string? _spillPath;
    private List<TensorDescriptor>? _spillTensors;
    private long _spillBytes;
    private TensorDescriptor? _pending;
    private long _pendingWritten;

    private bool _committed;
    private bool _disposed;

    private SafetensorsCheckpointWriter(string directory, long maxShardBytes, IReadOnlyDictionary<string, string>? metadata, IReadOnlyList<TensorDescriptor>? declared)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "the maximum shard size must be positive");
        Directory = Path.GetFullPath(directory);
        MaxShardBytes = maxShardBytes;
        _metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not null) foreach (var (k, v) in metadata) _metadata[k] = v;
        _metadata.TryAdd("format", "pt");
        if (declared is not null)
        {
            foreach (var d in declared)
            {
                if (d.Name == "__metadata__" || !_names.Add(d.Name)) throw new ArgumentException($"tensor name '{d.Name}' is reserved or used twice", nameof(declared));
                foreach (var s in d.Shape)
                    if (s < 0) throw new ArgumentException($"tensor '{d.Name}' has a negative dimension", nameof(declared));
            }
            _plan = PlanShards(declared, maxShardBytes);
        }
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (ex is IOException io && SafetensorsText.IsDiskFull(io, Directory, 0)) throw SafetensorsText.DiskFull(Directory);
            throw new SafetensorsException($"{SafetensorsText.OneLine(Directory)}: cannot create the checkpoint folder ({SafetensorsText.FirstLine(ex.Message)})");
        }
    }

    public string Directory { get; }
    public long MaxShardBytes { get; }

    /// <summary>Starts a checkpoint whose tensors are all declared now; they must then be supplied in this order.</summary>
    public static SafetensorsCheckpointWriter Create(string directory, IReadOnlyList<TensorDescriptor> tensors, long maxShardBytes = DefaultMaxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null) => new(directory, maxShardBytes, metadata, tensors);

    /// <summary>Starts a checkpoint whose tensors are declared one at a time as they are written.</summary>
    public static SafetensorsCheckpointWriter CreateIncremental(string directory, long maxShardBytes = DefaultMaxShardBytes,
        IReadOnlyDictionary<string, string>? metadata = null) => new(directory, maxShardBytes, metadata, null);

    /// <summary>
    /// The shards the writer makes for these tensors in this order: a tensor starts a new shard when the current
    /// one is not empty and would exceed <paramref name="maxShardBytes"/> with it (zero-size tensors never do).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<TensorDescriptor>> PlanShards(IReadOnlyList<TensorDescriptor> tensors, long maxShardBytes)
    {
        var shards = new List<IReadOnlyList<TensorDescriptor>>();
        var current = new List<TensorDescriptor>();
        long bytes = 0;
        foreach (var d in tensors)
        {
            var size = d.ByteLength;
            if (StartsNewShard(current.Count, bytes, size, maxShardBytes))
            {
                shards.Add(current);
                current = [];
                bytes = 0;
            }
            current.Add(d);
            bytes += size;
        }
        shards.Add(current);
        return shards;
    }

    private static bool StartsNewShard(int count, long bytes, long size, long max) => count > 0 && size > 0 && bytes + size > max;

    /// <summary>The final file name of shard <paramref name="index"/> (0-based) out of <paramref name="count"/>.</summary>
    public static string ShardFileName(int index, int count) =>
        count == 1 ? SafetensorsCheckpoint.SingleFileName : $"model-{index + 1:D5}-of-{count:D5}.safetensors";

    /// <summary>Writes the next tensor whole.</summary>
    // tensor: any shape and dtype, host-resident (declared mode: as declared)
    public unsafe void Write(string name, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Storage.Kind == StorageKind.Device) throw new InvalidOperationException($"tensor '{name}' is on {tensor.Device}; copy it to the host before writing");
        BeginTensor(new TensorDescriptor(name, tensor.DType, tensor.Shape.ToArray()));
        const int chunk = 1 << 24;
        var p = tensor.Pointer;
        for (long done = 0; done < tensor.ByteLength; done += chunk)
            WriteBytes(new ReadOnlySpan<byte>(p + done, (int)Math.Min(chunk, tensor.ByteLength - done)));
    }

    /// <summary>Begins the next tensor, whose bytes follow through <see cref="WriteBytes"/>. Declared mode: it must match the next declaration.</summary>
    public TensorDescriptor BeginTensor(TensorDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        EnsureOpen();
        if (_plan is not null)
        {
            if (_shard is { InTensor: true }) throw new InvalidOperationException($"{Directory}: a tensor is still being written; finish it before '{descriptor.Name}'");
            while (true)
            {
                if (_shard is null && !OpenNextDeclaredShard())
                    throw new InvalidOperationException($"{Directory}: tensor '{descriptor.Name}' is not declared, or was already written");
                var next = _shard!.PeekNext(descriptor.Name);
                if (next is null)
                {
                    CloseDeclaredShard();
                    continue;
                }
                if (next.Name != descriptor.Name)
                    throw new InvalidOperationException($"{Directory}: tensor '{descriptor.Name}' supplied where '{next.Name}' is due (tensors must come in declared order)");
                if (next.DType != descriptor.DType || !next.Shape.AsSpan().SequenceEqual(descriptor.Shape))
                    throw new ArgumentException($"tensor '{descriptor.Name}' is {descriptor} but was declared {next}", nameof(descriptor));
                break;
            }
            return _shard!.BeginTensor(descriptor.Name);
        }

        if (_pending is not null) throw new InvalidOperationException($"{Directory}: tensor '{_pending.Name}' has {_pending.ByteLength - _pendingWritten} bytes still to write");
        if (descriptor.Name == "__metadata__" || !_names.Add(descriptor.Name)) throw new ArgumentException($"tensor name '{descriptor.Name}' is reserved or used twice", nameof(descriptor));
        foreach (var s in descriptor.Shape)
            if (s < 0) throw new ArgumentException($"tensor '{descriptor.Name}' has a negative dimension", nameof(descriptor));
        var size = descriptor.ByteLength;
        if (_spillTensors is not null && StartsNewShard(_spillTensors.Count, _spillBytes, size, MaxShardBytes)) CloseSpillShard();
        if (_spillTensors is null) OpenSpillShard();
        var copy = new TensorDescriptor(descriptor.Name, descriptor.DType, (long[])descriptor.Shape.Clone());
        _spillTensors!.Add(copy);
        _spillBytes += size;
        _pending = size == 0 ? null : copy;
        _pendingWritten = 0;
        return copy;
    }

    /// <summary>The next bytes of the tensor begun with <see cref="BeginTensor"/>; may not run past its end.</summary>
    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        EnsureOpen();
        if (_plan is not null)
        {
            if (_shard is null) throw new InvalidOperationException($"{Directory}: WriteBytes without BeginTensor");
            _shard.WriteBytes(bytes);
            return;
        }
        if (_pending is null) throw new InvalidOperationException($"{Directory}: WriteBytes without BeginTensor");
        if (bytes.Length > _pending.ByteLength - _pendingWritten)
            throw new ArgumentException($"{Directory}: {bytes.Length} bytes exceed the {_pending.ByteLength - _pendingWritten} left of tensor '{_pending.Name}'", nameof(bytes));
        try
        {
            _spill!.Write(bytes);
        }
        catch (IOException ex)
        {
            if (SafetensorsText.IsDiskFull(ex, _spillPath!, bytes.Length)) throw SafetensorsText.DiskFull(Directory);
            throw new SafetensorsException($"{SafetensorsText.OneLine(_spillPath!)}: writing failed ({SafetensorsText.FirstLine(ex.Message)})");
        }
        _pendingWritten += bytes.Length;
        if (_pendingWritten == _pending.ByteLength) _pending = null;
    }

    /// <summary>
    /// Finishes the last shard, renames every shard into place, writes the index (when there are several shards)
    /// and removes stale shards and index of an earlier checkpoint in the folder. Returns the files written.
    /// </summary>
    public IReadOnlyList<string> Commit()
    {
        EnsureOpen();
        if (_plan is not null)
        {
            // Check before closing anything, so a premature Commit leaves the writer usable.
            if (_shard is { InTensor: true }) throw new InvalidOperationException($"{Directory}: a tensor is still being written");
            var missing = _shard?.PeekNext(null);
            for (var i = _done.Count + (_shard is null ? 0 : 1); missing is null && i < _plan.Count; i++)
                foreach (var d in _plan[i])
                    if (d.ByteLength > 0) { missing = d; break; }
            if (missing is not null) throw new InvalidOperationException($"{Directory}: tensor '{missing.Name}' was declared but not written");
            while (_shard is not null || OpenNextDeclaredShard()) CloseDeclaredShard();
        }
        else
        {
            if (_pending is not null) throw new InvalidOperationException($"{Directory}: tensor '{_pending.Name}' has {_pending.ByteLength - _pendingWritten} bytes still to write");
            if (_spillTensors is not null || _done.Count == 0) CloseSpillShard();
        }

        var count = _done.Count;
        var finalNames = new string[count];
        for (var i = 0; i < count; i++) finalNames[i] = ShardFileName(i, count);
        var indexPath = Path.Combine(Directory, SafetensorsCheckpoint.IndexFileName);
        string? indexTemp = null;
        if (count > 1)
        {
            indexTemp = Path.Combine(Directory, $".{SafetensorsCheckpoint.IndexFileName}.{_token}.tmp");
            WriteIndex(indexTemp, indexPath, finalNames);
        }
        try
        {
            // A stale index would shadow the new files (readers prefer it), so it goes first.
            if (File.Exists(indexPath)) File.Delete(indexPath);
            var written = new List<string>(count + 1);
            for (var i = 0; i < count; i++)
            {
                var final = Path.Combine(Directory, finalNames[i]);
                _done[i].Publish(final);
                written.Add(final);
            }
            if (indexTemp is not null)
            {
                File.Move(indexTemp, indexPath, overwrite: true);
                written.Add(indexPath);
            }
            _committed = true;
            RemoveStaleShards(finalNames);
            return written;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (ex is IOException io && SafetensorsText.IsDiskFull(io, Directory, 0)) throw SafetensorsText.DiskFull(Directory);
            throw new SafetensorsException($"{SafetensorsText.OneLine(Directory)}: cannot move the finished checkpoint into place ({SafetensorsText.FirstLine(ex.Message)})");
        }
        finally
        {
            if (indexTemp is not null && !_committed) SafetensorsStreamWriter.TryDelete(indexTemp);
            if (!_committed) Abort();
            _disposed = true;
        }
    }

    private void WriteIndex(string temp, string final, string[] finalNames)
    {
        var weightMap = new List<KeyValuePair<string, string>>();
        long total = 0;
        for (var i = 0; i < _doneTensors.Count; i++)
        {
            foreach (var d in _doneTensors[i])
            {
                weightMap.Add(new(d.Name, finalNames[i]));
                total += d.ByteLength;
            }
        }
        weightMap.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                using (var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                {
                    w.WriteStartObject();
                    w.WriteStartObject("metadata");
                    w.WriteNumber("total_size", total);
                    w.WriteEndObject();
                    w.WriteStartObject("weight_map");
                    foreach (var (name, file) in weightMap) w.WriteString(name, file);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                fs.WriteByte((byte)'\n');
                fs.Flush(flushToDisk: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            SafetensorsStreamWriter.TryDelete(temp);
            if (ex is IOException io && SafetensorsText.IsDiskFull(io, final, 0)) throw SafetensorsText.DiskFull(final);
            throw new SafetensorsException($"{SafetensorsText.OneLine(final)}: cannot write the index ({SafetensorsText.FirstLine(ex.Message)})");
        }
    }

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$", RegexOptions.CultureInvariant)]
    private static partial Regex ShardNamePattern();

    /// <summary>Deletes shard files of an earlier checkpoint that the new one does not use (as transformers' save_pretrained does).</summary>
    private void RemoveStaleShards(string[] finalNames)
    {
        var keep = new HashSet<string>(finalNames, StringComparer.Ordinal);
        foreach (var path in System.IO.Directory.EnumerateFiles(Directory))
        {
            var name = Path.GetFileName(path);
            if (keep.Contains(name)) continue;
            if (name == SafetensorsCheckpoint.SingleFileName || ShardNamePattern().IsMatch(name)) SafetensorsStreamWriter.TryDelete(path);
        }
    }

    // ---- declared mode -----------------------------------------------------------------------------------------

    private bool OpenNextDeclaredShard()
    {
        var index = _done.Count;
        if (index >= _plan!.Count) return false;
        var temp = Path.Combine(Directory, $".model-{index + 1:D5}.{_token}.tmp");
        _shard = SafetensorsStreamWriter.CreateAt(temp, temp, _plan[index], _metadata);
        return true;
    }

    private void CloseDeclaredShard()
    {
        var shard = _shard!;
        _shard = null;
        try
        {
            shard.Complete();
        }
        catch
        {
            shard.Dispose();
            throw;
        }
        _done.Add(shard);
        _doneTensors.Add(shard.Tensors);
    }

    // ---- incremental mode --------------------------------------------------------------------------------------

    private void OpenSpillShard()
    {
        _spillPath = Path.Combine(Directory, $".model-{_done.Count + 1:D5}.{_token}.spill");
        try
        {
            _spill = new FileStream(_spillPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            if (ex is IOException io && SafetensorsText.IsDiskFull(io, Directory, 0)) throw SafetensorsText.DiskFull(Directory);
            throw new SafetensorsException($"{SafetensorsText.OneLine(Directory)}: cannot create a temporary file in the checkpoint folder ({SafetensorsText.FirstLine(ex.Message)})");
        }
        _spillTensors = [];
        _spillBytes = 0;
    }

    private void CloseSpillShard()
    {
        var tensors = _spillTensors ?? [];
        var temp = Path.Combine(Directory, $".model-{_done.Count + 1:D5}.{_token}.tmp");
        var shard = SafetensorsStreamWriter.CreateAt(temp, temp, tensors, _metadata);
        try
        {
            if (_spill is not null)
            {
                _spill.Flush();
                _spill.Position = 0;
                shard.CopyAllData(_spill);
            }
            shard.Complete();
        }
        catch
        {
            shard.Dispose();
            throw;
        }
        DeleteSpill();
        _done.Add(shard);
        _doneTensors.Add(tensors);
        _spillTensors = null;
        _spillBytes = 0;
    }

    private void DeleteSpill()
    {
        _spill?.Dispose();
        _spill = null;
        if (_spillPath is not null) SafetensorsStreamWriter.TryDelete(_spillPath);
        _spillPath = null;
    }

    // ---- lifetime ----------------------------------------------------------------------------------------------

    private void EnsureOpen()
    {
        if (_disposed) throw new InvalidOperationException($"{Directory}: the checkpoint writer is already committed or disposed");
    }

    private void Abort()
    {
        _shard?.Dispose();
        _shard = null;
        DeleteSpill();
        foreach (var s in _done) s.Dispose();
    }

    /// <summary>Without a commit, deletes every temporary file; the folder keeps what it had before.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_committed) Abort();
    }
}
