using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Cluster;
using Akka.DistributedData;

namespace Offload.Runtime;

/// <summary>
/// Shares every node's free device memory with the whole cluster through Distributed Data (an LWW dictionary keyed by
/// node address), so the shard coordinator's <see cref="FreeMemoryAllocationStrategy"/> — which runs on one node —
/// sees the others' figures. Each node publishes its own figure when it changes (checked every
/// <see cref="Interval"/>) and keeps a local view of everyone's in the dictionary it was given.
/// </summary>
public sealed class FreeMemoryGossip : ReceiveActor, IWithTimers
{
    /// <summary>The replicated key.</summary>
    public static readonly LWWDictionaryKey<string, long> Key = new("offload-free-device-memory");

    /// <summary>How often this node's figure is checked.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly Func<long> _free;
    private readonly ConcurrentDictionary<string, long> _view;
    private readonly IActorRef _replicator;
    private readonly Cluster _cluster;
    private long _published = long.MinValue;

    /// <param name="free">This node's free device memory in bytes (the sum over its devices).</param>
    /// <param name="view">Filled with every node's figure, keyed by <see cref="Address.ToString"/>.</param>
    public FreeMemoryGossip(Func<long> free, ConcurrentDictionary<string, long> view)
    {
        _free = free;
        _view = view;
        _cluster = Cluster.Get(Context.System);
        _replicator = DistributedData.Get(Context.System).Replicator;
        Receive<Changed>(c =>
        {
            foreach (var (k, v) in c.Get(Key)) _view[k] = v;
        });
        Receive<Tick>(_ => Publish());
        Receive<UpdateSuccess>(_ => { });
        Receive<IUpdateFailure>(_ => _published = long.MinValue);
    }

    /// <summary>Set by Akka.</summary>
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Props of the gossip actor.</summary>
    public static Props Props(Func<long> free, ConcurrentDictionary<string, long> view) => Akka.Actor.Props.Create(() => new FreeMemoryGossip(free, view));

    /// <summary>The figure of the node at <paramref name="address"/> in <paramref name="view"/>; unknown nodes count as 0 free.</summary>
    public static long Lookup(ConcurrentDictionary<string, long> view, Address address) => view.TryGetValue(address.ToString(), out var v) ? v : 0;

    /// <summary>Subscribes, publishes this node's figure and starts the periodic check.</summary>
    protected override void PreStart()
    {
        _replicator.Tell(Dsl.Subscribe(Key, Self));
        Publish();
        Timers.StartPeriodicTimer("tick", Tick.Instance, Interval);
    }

    private void Publish()
    {
        var free = _free();
        if (free == _published) return;
        _published = free;
        var self = _cluster.SelfAddress.ToString();
        _view[self] = free;
        _replicator.Tell(Dsl.Update(Key, LWWDictionary<string, long>.Empty, WriteLocal.Instance, d => d.SetItem(_cluster, self, free)));
    }

    private sealed class Tick
    {
        public static readonly Tick Instance = new();
    }
}
