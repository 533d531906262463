using Microsoft.Extensions.Logging;
using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// Decides where each shard of one entity type lives (Akka's ShardCoordinator; here one instance per type in one
/// process — the cluster issue makes it a singleton over RabbitMQ).
/// <code>
///  GetShardHome ─► home known? ─yes─► ShardHome
///                      │no
///                      ▼
///        strategy.AllocateShard ─null─► wait (retried on Register / RegionMemoryChanged)
///                      │region
///                      ▼
///        HostShard ─► region; ShardHome ─► every requester
///
///  RebalanceTick ─► strategy.Rebalance ─► per shard:
///        BeginHandOff ─► all regions ─► BeginHandOffAck from all ─► HandOff ─► owner ─► ShardStopped
///        ─► deallocate ─► allocate anew for the requests that waited meanwhile
/// </code>
/// </summary>
public sealed partial class ShardCoordinator : ReceiveActor
{
    private readonly string _typeName;
    private readonly IShardAllocationStrategy _strategy;
    private readonly ShardingSettings _settings;
    private readonly Dictionary<IActorRef, RegionState> _regions = new();
    private readonly HashSet<IActorRef> _proxies = new();
    private readonly Dictionary<ShardId, IActorRef> _homes = new();
    private readonly Dictionary<ShardId, HandOffState> _handOffs = new();
    private readonly SortedDictionary<ShardId, List<IActorRef>> _waiting = new(Comparer<ShardId>.Create((a, b) => a.Value.CompareTo(b.Value)));
    private readonly HashSet<ShardId> _reportedUnallocatable = new();

    private ShardCoordinator(string typeName, IShardAllocationStrategy strategy, ShardingSettings settings)
    {
        _typeName = typeName;
        _strategy = strategy;
        _settings = settings;
        Receive<Register>(OnRegister);
        Receive<RegisterProxy>(OnRegisterProxy);
        Receive<RegionMemoryChanged>(OnMemoryChanged);
        Receive<GetShardHome>(OnGetShardHome);
        Receive<RebalanceTick>(_ => OnRebalanceTick());
        Receive<BeginHandOffAck>(OnBeginHandOffAck);
        Receive<ShardStopped>(OnShardStopped);
        Receive<HandOffTimeout>(OnHandOffTimeout);
        Receive<Terminated>(OnTerminated);
        Receive<GetCurrentAllocations>(_ => Sender.Tell(
            new CurrentAllocations(new Dictionary<ShardId, IActorRef>(_homes), new HashSet<ShardId>(_handOffs.Keys)), Self));
    }

    /// <summary>Props of the coordinator of <paramref name="typeName"/>.</summary>
    public static Props Props(string typeName, IShardAllocationStrategy strategy, ShardingSettings? settings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(typeName);
        ArgumentNullException.ThrowIfNull(strategy);
        settings ??= new ShardingSettings();
        settings.Validate();
        return Actors.Props.Create(() => new ShardCoordinator(typeName, strategy, settings));
    }

    protected override void PreStart() =>
        Timers.StartPeriodicTimer(RebalanceTick.Instance, RebalanceTick.Instance, _settings.RebalanceInterval);

    // ===== registration =====

    private void OnRegister(Register register)
    {
        if (_regions.TryGetValue(register.Region, out var known))
        {
            known.FreeMemoryBytes = register.FreeMemoryBytes;
        }
        else
        {
            Context.Watch(register.Region);
            _regions.Add(register.Region, new RegionState(register.FreeMemoryBytes));
            ShardingLog.RegionRegistered(Log, register.Region.Path, _typeName, register.FreeMemoryBytes);
        }
        register.Region.Tell(new RegisterAck(Self), Self);
        AllocateWaiting();
    }

    private void OnRegisterProxy(RegisterProxy register)
    {
        if (_proxies.Add(register.Proxy)) Context.Watch(register.Proxy);
        register.Proxy.Tell(new RegisterAck(Self), Self);
    }

    private void OnMemoryChanged(RegionMemoryChanged changed)
    {
        if (!_regions.TryGetValue(changed.Region, out var region)) return;
        region.FreeMemoryBytes = changed.FreeMemoryBytes;
        AllocateWaiting();
    }

    // ===== allocation =====

    private void OnGetShardHome(GetShardHome request)
    {
        var requester = Sender;
        if (!_regions.ContainsKey(requester) && !_proxies.Contains(requester))
        {
            ShardingLog.UnregisteredRequester(Log, requester.Path, _typeName, request.Shard.Value);
            return;
        }
        if (_handOffs.ContainsKey(request.Shard))
        {
            Wait(request.Shard, requester);
            return;
        }
        if (_homes.TryGetValue(request.Shard, out var home))
        {
            requester.Tell(new ShardHome(request.Shard, home), Self);
            return;
        }
        Wait(request.Shard, requester);
        TryAllocate(request.Shard, requester);
    }

    private void Wait(ShardId shard, IActorRef requester)
    {
        if (!_waiting.TryGetValue(shard, out var list)) _waiting[shard] = list = new List<IActorRef>();
        if (!list.Contains(requester)) list.Add(requester);
    }

    private void AllocateWaiting()
    {
        foreach (var shard in _waiting.Keys.ToArray())
        {
            if (_handOffs.ContainsKey(shard) || !_waiting.TryGetValue(shard, out var list) || list.Count == 0) continue;
            if (_homes.TryGetValue(shard, out var home)) AnswerWaiting(shard, home);
            else TryAllocate(shard, list[0]);
        }
    }

    private void TryAllocate(ShardId shard, IActorRef requester)
    {
        var home = _strategy.AllocateShard(requester, shard, View());
        if (home is null || !_regions.TryGetValue(home, out var region))
        {
            if (home is not null) ShardingLog.StrategyPickedUnknownRegion(Log, _typeName, shard.Value, home.Path);
            if (_reportedUnallocatable.Add(shard))
                ShardingLog.ShardUnallocatable(Log, _typeName, shard.Value, _waiting.TryGetValue(shard, out var w) ? w.Count : 0);
            return;
        }
        _reportedUnallocatable.Remove(shard);
        _homes[shard] = home;
        region.Shards.Add(shard);
        ShardingLog.ShardAllocated(Log, _typeName, shard.Value, home.Path);
        home.Tell(new HostShard(shard), Self);
        AnswerWaiting(shard, home);
    }

    private void AnswerWaiting(ShardId shard, IActorRef home)
    {
        if (!_waiting.Remove(shard, out var list)) return;
        foreach (var requester in list) requester.Tell(new ShardHome(shard, home), Self);
    }

    private IReadOnlyList<RegionAllocation> View()
    {
        var view = new List<RegionAllocation>(_regions.Count);
        foreach (var (region, state) in _regions) view.Add(new RegionAllocation(region, state.FreeMemoryBytes, state.Shards.ToArray()));
        view.Sort((a, b) => string.CompareOrdinal(a.Region.Path, b.Region.Path));
        return view;
    }

    // ===== rebalance and handoff =====

    private void OnRebalanceTick()
    {
        var moves = _strategy.Rebalance(View(), new HashSet<ShardId>(_handOffs.Keys));
        foreach (var shard in moves.OrderBy(s => s.Value))
        {
            if (_handOffs.ContainsKey(shard) || !_homes.TryGetValue(shard, out var owner)) continue;
            var acks = new HashSet<IActorRef>(_regions.Keys);
            acks.UnionWith(_proxies);
            _handOffs[shard] = new HandOffState(owner, acks);
            ShardingLog.HandOffStarted(Log, _typeName, shard.Value, owner.Path);
            foreach (var region in acks) region.Tell(new BeginHandOff(shard), Self);
            Timers.StartSingleTimer(new HandOffTimeout(shard), new HandOffTimeout(shard), _settings.HandOffTimeout);
        }
    }

    private void OnBeginHandOffAck(BeginHandOffAck ack)
    {
        if (!_handOffs.TryGetValue(ack.Shard, out var state)) return;
        state.AwaitingAcks.Remove(Sender);
        SendHandOffIfAcked(ack.Shard, state);
    }

    private void SendHandOffIfAcked(ShardId shard, HandOffState state)
    {
        if (state.AwaitingAcks.Count > 0 || state.HandOffSent) return;
        state.HandOffSent = true;
        state.Owner.Tell(new HandOff(shard), Self);
    }

    private void OnShardStopped(ShardStopped stopped)
    {
        if (!_handOffs.Remove(stopped.Shard, out var state)) return;
        Timers.Cancel(new HandOffTimeout(stopped.Shard));
        Deallocate(stopped.Shard);
        ShardingLog.HandOffCompleted(Log, _typeName, stopped.Shard.Value, state.Owner.Path);
        if (_waiting.TryGetValue(stopped.Shard, out var list) && list.Count > 0) TryAllocate(stopped.Shard, list[0]);
    }

    private void OnHandOffTimeout(HandOffTimeout timeout)
    {
        if (!_handOffs.Remove(timeout.Shard, out var state)) return;
        ShardingLog.HandOffTimedOut(Log, _typeName, timeout.Shard.Value, state.Owner.Path, _settings.HandOffTimeout.TotalSeconds);
        if (_homes.TryGetValue(timeout.Shard, out var home)) AnswerWaiting(timeout.Shard, home);
        else if (_waiting.TryGetValue(timeout.Shard, out var list) && list.Count > 0) TryAllocate(timeout.Shard, list[0]);
    }

    private void Deallocate(ShardId shard)
    {
        if (_homes.Remove(shard, out var owner) && _regions.TryGetValue(owner, out var region)) region.Shards.Remove(shard);
    }

    // ===== a region or proxy stopped =====

    private void OnTerminated(Terminated terminated)
    {
        var gone = terminated.ActorRef;
        if (_regions.Remove(gone, out var region))
        {
            foreach (var shard in region.Shards) _homes.Remove(shard);
            ShardingLog.RegionTerminated(Log, gone.Path, _typeName, string.Join(",", region.Shards.Select(s => s.Value)));
        }
        _proxies.Remove(gone);
        foreach (var list in _waiting.Values) list.Remove(gone);
        foreach (var (shard, state) in _handOffs.ToArray())
        {
            if (ReferenceEquals(state.Owner, gone))
            {
                _handOffs.Remove(shard); // its entities are gone with it
                Timers.Cancel(new HandOffTimeout(shard));
                continue;
            }
            state.AwaitingAcks.Remove(gone); // a region that stopped counts as having acknowledged
            SendHandOffIfAcked(shard, state);
        }
        AllocateWaiting();
    }

    private sealed class RegionState(long freeMemoryBytes)
    {
        public long FreeMemoryBytes { get; set; } = freeMemoryBytes;
        public List<ShardId> Shards { get; } = new();
    }

    private sealed class HandOffState(IActorRef owner, HashSet<IActorRef> awaitingAcks)
    {
        public IActorRef Owner { get; } = owner;
        public HashSet<IActorRef> AwaitingAcks { get; } = awaitingAcks;
        public bool HandOffSent { get; set; }
    }
}
