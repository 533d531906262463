using System.Collections.Concurrent;
using Offload.Protocol;
using Offload.Protocol.Messages;
using Offload.Tensors;

namespace Offload.DeviceActors.DataPlane;

/// <summary>
/// The tensors a node serves on its data plane, by id. <see cref="Publish"/> takes a reference to the tensor,
/// computes the checksum of its data once (<see cref="TensorChecksum"/>), and returns the <see cref="TensorRef"/> other nodes pull it with. Ids are
/// paths ("job-1/layer-3/out/0"): letters, digits and <c>-_./</c>. Thread-safe.
/// </summary>
public sealed class TensorStore : IDisposable
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Base URL of the server that serves this store ("http://127.0.0.1:7101/"); set by <see cref="TensorServer"/>.</summary>
    public Uri? BaseUri { get; internal set; }

    public int Count => _entries.Count;

    /// <summary>Serves <paramref name="tensor"/> (a host tensor; this store keeps its own reference) under <paramref name="id"/>,
    /// replacing an earlier tensor of that id.</summary>
    public TensorRef Publish(string id, string name, Tensor tensor)
    {
        CheckId(id);
        var share = tensor.Share();
        var checksum = Checksum(share);
        var descriptor = new TensorDescriptor(name, share.DType, share.Shape.ToArray());
        var entry = new Entry(share, descriptor, checksum, TensorFrame.BuildPrefix(descriptor, checksum));
        if (_entries.TryGetValue(id, out var old)) old.Tensor.Dispose();
        _entries[id] = entry;
        var reference = new TensorRef(id, BaseUri is null ? "" : new Uri(BaseUri, "tensors/" + id).ToString(), name,
            descriptor.DType.ToSafetensorsName(), descriptor.Shape.ToArray(), descriptor.ByteLength, checksum);
        return reference;
    }

    /// <summary>Stops serving <paramref name="id"/> (transfers in flight finish with their own reference).</summary>
    public bool Remove(string id)
    {
        if (!_entries.TryRemove(id, out var entry)) return false;
        entry.Tensor.Dispose();
        return true;
    }

    /// <summary>Removes every id that starts with <paramref name="prefix"/> (e.g. a finished job's tensors).</summary>
    public int RemoveAll(string prefix)
    {
        var n = 0;
        foreach (var id in _entries.Keys)
            if (id.StartsWith(prefix, StringComparison.Ordinal) && Remove(id)) n++;
        return n;
    }

    /// <summary>The entry of <paramref name="id"/> with a fresh tensor reference the caller disposes.</summary>
    internal bool TryAcquire(string id, out Entry entry, out Tensor tensor)
    {
        while (_entries.TryGetValue(id, out entry!))
        {
            try
            {
                tensor = entry.Tensor.Share();
                return true;
            }
            catch (ObjectDisposedException)
            {
                // Replaced or removed meanwhile; look again.
            }
        }
        tensor = null!;
        return false;
    }

    /// <summary>The <see cref="TensorChecksum"/> string of a host tensor's data.</summary>
    public static string Checksum(Tensor tensor)
    {
        using var bytes = ByteView(tensor);
        var crcs = new uint[(int)((tensor.ByteLength + TensorChecksum.BlockBytes - 1) / TensorChecksum.BlockBytes)];
        for (var i = 0; i < crcs.Length; i++)
        {
            long at = (long)i * TensorChecksum.BlockBytes;
            using var part = bytes.Slice(at, Math.Min(TensorChecksum.BlockBytes, tensor.ByteLength - at));
            crcs[i] = TensorChecksum.Crc32C(part.Bytes());
        }
        return TensorChecksum.Format(crcs);
    }

    /// <summary>The tensor's data as a U8 tensor of [byte length] (another reference; the caller disposes it).</summary>
    internal static Tensor ByteView(Tensor tensor) => tensor.AsBytes();

    private static void CheckId(string id)
    {
        if (id.Length == 0 || id.Length > 512 || id.StartsWith('/') || id.Contains("..", StringComparison.Ordinal))
            throw new ArgumentException($"tensor id '{id}' must be 1–512 characters, relative, without '..'", nameof(id));
        foreach (var c in id)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/'))
                throw new ArgumentException($"tensor id '{id}' may hold letters, digits and -_./ only", nameof(id));
    }

    public void Dispose()
    {
        foreach (var id in _entries.Keys) Remove(id);
    }

    internal sealed record Entry(Tensor Tensor, TensorDescriptor Descriptor, string Checksum, byte[] Prefix)
    {
        public long FrameLength => Prefix.Length + Descriptor.ByteLength;
    }
}
