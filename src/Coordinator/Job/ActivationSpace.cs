using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Job;

/// <summary>
/// The host-memory budget shared by every <see cref="ActivationSet"/> of a job, and the folder where batches that do
/// not fit spill. Tracks the bytes held in memory and their peak. Thread-safe.
/// </summary>
public sealed class ActivationSpace
{
    private readonly object _gate = new();
    private long _used;
    private long _peak;
    private long _spilled;
    private int _nextFile;

    /// <param name="budgetBytes">host bytes for activations; null = no limit (never spill).</param>
    /// <param name="spillDir">folder for spilled batches (created on first spill).</param>
    public ActivationSpace(long? budgetBytes, string spillDir)
    {
        BudgetBytes = budgetBytes;
        SpillDir = spillDir;
    }

    public long? BudgetBytes { get; }
    public string SpillDir { get; }

    public long UsedBytes { get { lock (_gate) return _used; } }
    public long PeakBytes { get { lock (_gate) return _peak; } }

    /// <summary>Bytes written to spill files so far.</summary>
    public long SpilledBytes { get { lock (_gate) return _spilled; } }

    /// <summary>Takes <paramref name="bytes"/> of the budget when they fit; false = spill.</summary>
    internal bool TryTake(long bytes)
    {
        lock (_gate)
        {
            if (BudgetBytes is { } b && _used + bytes > b) return false;
            _used += bytes;
            if (_used > _peak) _peak = _used;
            return true;
        }
    }

    internal void Give(long bytes)
    {
        lock (_gate) _used -= bytes;
    }

    internal string NextSpillPath(long bytes)
    {
        lock (_gate)
        {
            _spilled += bytes;
            OffloadTelemetry.ActivationSpilledCounter.Add(bytes);
            Directory.CreateDirectory(SpillDir);
            return Path.Combine(SpillDir, $"batch-{_nextFile++:D6}.f32");
        }
    }
}
