using Akka.Actor;
using Offload.Runtime;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// One per device. Serves onload and reservation requests as messages against the device's exact byte ledger
/// (<see cref="DeviceMemory"/>): a request whose bytes can be made to fit (evicting least-recently-used unpinned
/// blocks) is pinned at once and its copies go to the device's <see cref="TransferWorker"/>; the reply (a
/// <see cref="DeviceLease"/>) comes when every copy has arrived. Requests that do not fit yet wait — demands first,
/// then prefetches, each in arrival order, and a waiting request is never overtaken by a later one of its class or a
/// prefetch — until releases free memory. A request larger than the whole budget fails at once with
/// <see cref="DeviceMemoryException"/>.
/// </summary>
public sealed class DeviceActor : TracedReceiveActor
{
    private readonly DeviceOptions _options;
    private readonly DeviceMemory _memory;
    private readonly DeviceTransformCache? _transforms;
    private readonly List<Request> _pending = new();
    private readonly List<Request> _loading = new();
    private TransferWorker? _worker;
    private long _nextId;
    private long _transferredBytes;
    private TimeSpan _transferTime;
    private long _transfers;
    private long _hits;

    /// <summary>Use <see cref="Props"/> (Akka.NET creates the actor through this public constructor).</summary>
    public DeviceActor(DeviceOptions options, DeviceMemory memory, DeviceTransformCache? transforms)
    {
        _options = options;
        _memory = memory;
        _transforms = transforms;
        Receive<Onload>(OnOnload);
        Receive<Reserve>(OnReserve);
        Receive<Promote>(OnPromote);
        Receive<Release>(OnRelease);
        Receive<Drop>(OnDrop);
        Receive<TransferDone>(OnTransferDone);
        Receive<GetStats>(_ => Sender.Tell(Stats(), Self));
    }

    /// <summary>
    /// Props of the actor over <paramref name="memory"/> (the ledger outlives restarts). While the actor runs, the
    /// ledger and <paramref name="transforms"/> are in the <see cref="DeviceRegistry"/> (device metrics).
    /// </summary>
    public static Props Props(DeviceOptions options, DeviceMemory memory, DeviceTransformCache? transforms = null)
    {
        options.Validate();
        return Akka.Actor.Props.Create(() => new DeviceActor(options, memory, transforms));
    }

    // ---- messages ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Make <paramref name="Sources"/> resident under <paramref name="Owner"/> and pin them → <see cref="DeviceLease"/>.
    /// The message owns the source references (host or mapped tensors) and disposes them.
    /// </summary>
    public sealed record Onload(string Owner, IReadOnlyList<(string Name, Tensor Source)> Sources, bool Prefetch);

    /// <summary>Reserve <paramref name="Bytes"/> under (owner, name) with no tensor (workspace) → <see cref="DeviceLease"/>.</summary>
    public sealed record Reserve(string Owner, string Name, long Bytes);

    /// <summary>A waiting prefetch of <paramref name="Owner"/> is now needed: serve it as a demand.</summary>
    public sealed record Promote(string Owner);

    /// <summary>Unpin blocks (sent by <see cref="DeviceLease.Dispose"/>).</summary>
    public sealed record Release(IReadOnlyList<BlockKey> Keys);

    /// <summary>Free every unpinned block of <paramref name="Owner"/> (e.g. after its parameters changed) → <see cref="Dropped"/>.</summary>
    public sealed record Drop(string Owner);

    public sealed record Dropped(long FreedBytes);

    /// <summary>→ <see cref="DeviceStats"/>.</summary>
    public sealed record GetStats
    {
        public static readonly GetStats Instance = new();
    }

    internal sealed record TransferDone(long JobId, IReadOnlyList<BlockKey> Keys, IReadOnlyList<(BlockKey Key, Tensor Copy)> Copies,
        Exception? Error, TimeSpan Elapsed, long Bytes);

    // ---- lifecycle -------------------------------------------------------------------------------------------------

    protected override void PreStart()
    {
        var self = Self;
        _worker = new TransferWorker(_options, done => self.Tell(done));
        DeviceRegistry.Register(_memory, _transforms);
    }

    protected override void PostStop()
    {
        _worker?.StopAsync().Wait(TimeSpan.FromSeconds(30));
        foreach (var r in _pending) r.DisposeSources();
        _pending.Clear();
        DeviceRegistry.Unregister(_memory);
    }

    // ---- handlers --------------------------------------------------------------------------------------------------

    private void OnOnload(Onload m)
    {
        var items = new List<Item>(m.Sources.Count);
        long total = 0;
        foreach (var (name, source) in m.Sources)
        {
            items.Add(new Item(new BlockKey(m.Owner, name), source.ByteLength, source));
            total += source.ByteLength;
        }
        Enqueue(new Request(++_nextId, m.Owner, items, m.Prefetch, Sender), total);
    }

    private void OnReserve(Reserve m)
    {
        if (m.Bytes < 0)
        {
            Sender.Tell(new Status.Failure(new ArgumentOutOfRangeException(nameof(m), "negative reservation")), Self);
            return;
        }
        Enqueue(new Request(++_nextId, m.Owner, [new Item(new BlockKey(m.Owner, m.Name), m.Bytes, null)], false, Sender), m.Bytes);
    }

    private void Enqueue(Request request, long total)
    {
        if (total > _memory.BudgetBytes)
        {
            request.DisposeSources();
            request.ReplyTo.Tell(new Status.Failure(new DeviceMemoryException(_options.Device, $"'{request.Owner}'", total, _memory.BudgetBytes)), Self);
            return;
        }
        _pending.Add(request);
        Serve();
    }

    private void OnPromote(Promote m)
    {
        foreach (var r in _pending)
            if (r.Owner == m.Owner) r.Prefetch = false;
        Serve();
    }

    private void OnRelease(Release m)
    {
        foreach (var k in m.Keys) _memory.Unpin(k);
        Serve();
    }

    private void OnDrop(Drop m)
    {
        var freed = _memory.RemoveUnpinned(m.Owner);
        Sender.Tell(new Dropped(freed), Self);
        Serve();
    }

    private void OnTransferDone(TransferDone done)
    {
        _transfers++;
        _transferTime += done.Elapsed;
        if (done.Error is null)
        {
            _transferredBytes += done.Bytes;
            foreach (var (key, copy) in done.Copies) _memory.Complete(key, copy);
        }
        else
        {
            var failed = new HashSet<BlockKey>(done.Keys);
            foreach (var r in _loading.Where(r => r.Items.Any(i => failed.Contains(i.Key))).ToList())
            {
                _loading.Remove(r);
                foreach (var i in r.Items)
                    if (!failed.Contains(i.Key)) _memory.Unpin(i.Key);
                r.ReplyTo.Tell(new Status.Failure(done.Error), Self);
            }
            foreach (var k in failed) _memory.Remove(k);
        }
        ReplyReady();
        Serve();
    }

    // ---- scheduling ------------------------------------------------------------------------------------------------

    /// <summary>Serves waiting requests in order (demands, then prefetches) until one does not fit.</summary>
    private void Serve()
    {
        while (true)
        {
            var next = _pending.FirstOrDefault(r => !r.Prefetch) ?? _pending.FirstOrDefault();
            if (next is null) return;
            var existing = new List<BlockKey>();
            var added = new List<(BlockKey, long)>();
            foreach (var i in next.Items)
            {
                if (_memory.Contains(i.Key)) existing.Add(i.Key);
                else added.Add((i.Key, i.Bytes));
            }
            if (!_memory.TryPinAndReserve(existing, added)) return;
            _pending.Remove(next);
            _hits += existing.Count;
            var copies = new List<(BlockKey, Tensor)>();
            foreach (var i in next.Items)
            {
                if (i.Source is null)
                {
                    if (!existing.Contains(i.Key)) _memory.CompleteReservation(i.Key);
                }
                else if (existing.Contains(i.Key)) i.Source.Dispose();
                else copies.Add((i.Key, i.Source));
            }
            _loading.Add(next);
            if (copies.Count > 0) _worker!.Submit(new TransferWorker.Job(next.Id, copies));
            ReplyReady();
        }
    }

    /// <summary>Replies to every loading request whose blocks have all arrived.</summary>
    private void ReplyReady()
    {
        for (var j = 0; j < _loading.Count; j++)
        {
            var r = _loading[j];
            if (!r.Items.All(i => _memory.IsReady(i.Key))) continue;
            _loading.RemoveAt(j--);
            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            long bytes = 0;
            foreach (var i in r.Items)
            {
                bytes += i.Bytes;
                if (i.Source is not null) tensors[i.Key.Name] = _memory.Share(i.Key);
            }
            r.ReplyTo.Tell(new DeviceLease(Self, _options.Device, r.Owner, r.Items.Select(i => i.Key).ToArray(), tensors, bytes), Self);
        }
    }

    private DeviceStats Stats() => new(_options.Device, _memory.BudgetBytes, _memory.ResidentBytes, _memory.PeakBytes, _memory.PinnedBytes,
        _memory.Evictions, _memory.EvictedBytes, _transferredBytes, _transferTime, _transfers, _hits);

    private sealed record Item(BlockKey Key, long Bytes, Tensor? Source);

    private sealed class Request(long id, string owner, IReadOnlyList<Item> items, bool prefetch, IActorRef replyTo)
    {
        public long Id { get; } = id;
        public string Owner { get; } = owner;
        public IReadOnlyList<Item> Items { get; } = items;
        public bool Prefetch { get; set; } = prefetch;
        public IActorRef ReplyTo { get; } = replyTo;

        public void DisposeSources()
        {
            foreach (var i in Items) i.Source?.Dispose();
        }
    }
}
