using System.Diagnostics;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.Coordinator.Job;

/// <summary>
/// One activation per batch (e.g. every batch's output of layer l): kept in host memory while the shared
/// <see cref="ActivationSpace"/> budget allows, otherwise spilled to a file and read back on use. Thread-safe; owns
/// its tensors and files.
/// </summary>
public sealed class ActivationSet : IDisposable
{
    private readonly ActivationSpace _space;
    private readonly Entry?[] _entries;
    private readonly object _gate = new();

    public ActivationSet(ActivationSpace space, int batches)
    {
        _space = space;
        _entries = new Entry?[batches];
    }

    public int Count => _entries.Length;

    public bool Has(int batch)
    {
        lock (_gate) return _entries[batch] is not null;
    }

    /// <summary>Number of batches held in files.</summary>
    public int SpilledCount
    {
        get
        {
            lock (_gate) return _entries.Count(e => e?.File is not null);
        }
    }

    /// <summary>Stores batch <paramref name="batch"/>'s tensor [rows, seq, hidden] f32, taking it over.</summary>
    public void Put(int batch, Tensor tensor)
    {
        Entry entry;
        if (_space.TryTake(tensor.ByteLength))
        {
            entry = new Entry(tensor, null, tensor.Shape.ToArray(), tensor.ByteLength);
        }
        else
        {
            var path = _space.NextSpillPath(tensor.ByteLength);
            try
            {
                var start = Stopwatch.GetTimestamp();
                using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                    fs.Write(tensor.Bytes());
                RecordDisk(OffloadTelemetry.Directions.DiskWrite, tensor.ByteLength, start);
                entry = new Entry(null, path, tensor.Shape.ToArray(), tensor.ByteLength);
            }
            finally
            {
                tensor.Dispose();
            }
        }
        lock (_gate)
        {
            if (_entries[batch] is not null)
            {
                Release(entry);
                throw new InvalidOperationException($"activation of batch {batch} stored twice");
            }
            _entries[batch] = entry;
        }
    }

    /// <summary>Batch <paramref name="batch"/>'s tensor (a reference or a fresh read of its spill file; the caller disposes it).</summary>
    public Tensor Get(int batch)
    {
        Entry e;
        lock (_gate) e = _entries[batch] ?? throw new InvalidOperationException($"activation of batch {batch} is missing");
        if (e.Tensor is not null) return e.Tensor.Share();
        var t = Tensor.Empty(DType.F32, e.Shape);
        var start = Stopwatch.GetTimestamp();
        using (var fs = new FileStream(e.File!, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
            fs.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Span<float>()));
        RecordDisk(OffloadTelemetry.Directions.DiskRead, t.ByteLength, start);
        return t;
    }

    /// <summary>A spill file written or read back, in the transfer metrics (direction disk_write / disk_read, no device).</summary>
    private static void RecordDisk(string direction, long bytes, long startTimestamp)
    {
        var tag = new KeyValuePair<string, object?>(OffloadTelemetry.AttrDirection, direction);
        OffloadTelemetry.TransferSizeCounter.Add(bytes, tag);
        OffloadTelemetry.TransferDurationHistogram.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tag);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            for (var i = 0; i < _entries.Length; i++)
            {
                if (_entries[i] is { } e) Release(e);
                _entries[i] = null;
            }
        }
    }

    private void Release(Entry e)
    {
        if (e.Tensor is not null)
        {
            e.Tensor.Dispose();
            _space.Give(e.Bytes);
        }
        if (e.File is not null) File.Delete(e.File);
    }

    private sealed record Entry(Tensor? Tensor, string? File, long[] Shape, long Bytes);
}
