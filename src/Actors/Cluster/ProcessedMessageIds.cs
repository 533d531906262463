namespace Offload.Actors.Cluster;

/// <summary>
/// The message ids a node has handled, the most recent <c>capacity</c> of them (oldest forgotten first). A delivery
/// whose id is here is acknowledged without running its handler again: a redelivery after a lost acknowledgement (a
/// broker restart, a cancelled consumer) changes nothing. Thread-safe.
/// <para>This is the fast, in-process half of idempotency. Across processes (a message redelivered to another node
/// after a crash) the effects themselves are idempotent: results are keyed (job, layer, attempt) and the coordinator
/// journals a key once.</para>
/// </summary>
public sealed class ProcessedMessageIds
{
    private readonly object _gate = new();
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly int _capacity;

    public ProcessedMessageIds(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _capacity = capacity;
    }

    public int Count
    {
        get { lock (_gate) return _ids.Count; }
    }

    public bool Contains(string messageId)
    {
        lock (_gate) return _ids.Contains(messageId);
    }

    /// <summary>Records <paramref name="messageId"/>; false when it was already there.</summary>
    public bool Add(string messageId)
    {
        lock (_gate)
        {
            if (!_ids.Add(messageId)) return false;
            _order.Enqueue(messageId);
            while (_order.Count > _capacity) _ids.Remove(_order.Dequeue());
            return true;
        }
    }
}
