using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// The entry point of one entity type on one node (Akka's ShardRegion). Every message for an entity goes through a
/// region: it finds the entity's shard with the extractor, asks the coordinator where that shard lives (once, then
/// cached), and delivers to its own <c>Shard</c> child or forwards to the owning region. While a shard has no known
/// home (first use, during a handoff, while no region can take it) its messages wait in a bounded buffer — in
/// arrival order — and are delivered once the home is known; beyond <see cref="ShardingSettings.BufferSize"/> they
/// are dead-lettered with the reason. A proxy region routes and buffers but never hosts.
/// </summary>
public sealed partial class ShardRegion : ReceiveActor
{
    private readonly string _typeName;
    private readonly Func<EntityId, Props>? _entityProps;
    private readonly IMessageExtractor _extractor;
    private readonly IActorRef _coordinator;
    private readonly ShardingSettings _settings;
    private readonly Dictionary<ShardId, IActorRef> _homes = new();
    private readonly Dictionary<ShardId, IActorRef> _local = new();
    private readonly Dictionary<IActorRef, ShardId> _localRefs = new();
    private readonly Dictionary<ShardId, List<Envelope>> _buffers = new();
    private readonly HashSet<IActorRef> _watchedRegions = new();
    private long _freeMemoryBytes;
    private bool _registered;
    private int _buffered;
    private int _incarnation;

    private ShardRegion(string typeName, Func<EntityId, Props>? entityProps, IMessageExtractor extractor, IActorRef coordinator,
        long freeMemoryBytes, ShardingSettings settings)
    {
        _typeName = typeName;
        _entityProps = entityProps;
        _extractor = extractor;
        _coordinator = coordinator;
        _freeMemoryBytes = freeMemoryBytes;
        _settings = settings;
        Receive<ShardCoordinator.RegisterAck>(_ => OnRegistered());
        Receive<RetryTick>(_ => OnRetry());
        Receive<ShardCoordinator.ShardHome>(home => OnShardHome(home.Shard, home.Region));
        Receive<ShardCoordinator.HostShard>(host => OnShardHome(host.Shard, Self));
        Receive<ShardCoordinator.BeginHandOff>(OnBeginHandOff);
        Receive<ShardCoordinator.HandOff>(OnHandOff);
        Receive<Terminated>(OnTerminated);
        Receive<UpdateFreeMemory>(OnUpdateFreeMemory);
        Receive<GetShardRegionState>(_ => Sender.Tell(
            new CurrentShardRegionState(_local.Keys.OrderBy(s => s.Value).ToArray(), _buffered), Self));
        ReceiveAny(Route);
    }

    /// <summary>Props of a hosting region for <paramref name="typeName"/> that reports <paramref name="freeMemoryBytes"/>
    /// of free device memory to <paramref name="coordinator"/>.</summary>
    public static Props Props(string typeName, Func<EntityId, Props> entityProps, IMessageExtractor extractor, IActorRef coordinator,
        long freeMemoryBytes, ShardingSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(entityProps);
        return Create(typeName, entityProps, extractor, coordinator, freeMemoryBytes, settings);
    }

    /// <summary>Props of a proxy: routes and buffers, never hosts.</summary>
    public static Props ProxyProps(string typeName, IMessageExtractor extractor, IActorRef coordinator, ShardingSettings? settings = null) =>
        Create(typeName, null, extractor, coordinator, 0, settings);

    private static Props Create(string typeName, Func<EntityId, Props>? entityProps, IMessageExtractor extractor, IActorRef coordinator,
        long freeMemoryBytes, ShardingSettings? settings)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(typeName);
        ArgumentNullException.ThrowIfNull(extractor);
        ArgumentNullException.ThrowIfNull(coordinator);
        settings ??= new ShardingSettings();
        settings.Validate();
        return Actors.Props.Create(() => new ShardRegion(typeName, entityProps, extractor, coordinator, freeMemoryBytes, settings));
    }

    private bool IsProxy => _entityProps is null;

    protected override void PreStart()
    {
        Context.Watch(_coordinator);
        Register();
        Timers.StartPeriodicTimer(RetryTick.Instance, RetryTick.Instance, _settings.RetryInterval);
    }

    // ===== coordinator =====

    private void Register()
    {
        if (IsProxy) _coordinator.Tell(new ShardCoordinator.RegisterProxy(Self), Self);
        else _coordinator.Tell(new ShardCoordinator.Register(Self, _freeMemoryBytes), Self);
    }

    private void OnRegistered()
    {
        _registered = true;
        RequestBufferedHomes();
    }

    private void OnRetry()
    {
        if (!_registered) Register();
        else RequestBufferedHomes();
    }

    private void RequestBufferedHomes()
    {
        foreach (var shard in _buffers.Keys) _coordinator.Tell(new ShardCoordinator.GetShardHome(shard), Self);
    }

    private void OnUpdateFreeMemory(UpdateFreeMemory update)
    {
        _freeMemoryBytes = update.FreeMemoryBytes;
        if (_registered && !IsProxy) _coordinator.Tell(new ShardCoordinator.RegionMemoryChanged(Self, update.FreeMemoryBytes), Self);
    }

    private void OnShardHome(ShardId shard, IActorRef home)
    {
        if (ReferenceEquals(home, Self))
        {
            if (IsProxy) return; // never allocated to a proxy by a correct coordinator
            EnsureLocalShard(shard);
        }
        else if (_watchedRegions.Add(home))
        {
            Context.Watch(home);
        }
        _homes[shard] = home;
        if (_buffers.Remove(shard, out var buffered))
        {
            _buffered -= buffered.Count;
            foreach (var envelope in buffered) Deliver(shard, home, envelope);
        }
    }

    private void OnBeginHandOff(ShardCoordinator.BeginHandOff begin)
    {
        _homes.Remove(begin.Shard);
        Sender.Tell(new ShardCoordinator.BeginHandOffAck(begin.Shard), Self);
    }

    private void OnHandOff(ShardCoordinator.HandOff handOff)
    {
        if (_local.Remove(handOff.Shard, out var shard))
        {
            Context.Forward(shard, handOff); // the shard answers ShardStopped to the coordinator when its entities have stopped
        }
        else
        {
            Sender.Tell(new ShardCoordinator.ShardStopped(handOff.Shard), Self);
        }
    }

    private void OnTerminated(Terminated terminated)
    {
        var gone = terminated.ActorRef;
        if (ReferenceEquals(gone, _coordinator))
        {
            _registered = false;
            ShardingLog.CoordinatorTerminated(Log, Self.Path, _typeName, gone.Path);
            return;
        }
        if (_localRefs.Remove(gone, out var shardId))
        {
            // A handed-off shard has left _local already; a shard that stopped otherwise is re-created on its next message.
            if (_local.TryGetValue(shardId, out var current) && ReferenceEquals(current, gone)) _local.Remove(shardId);
            return;
        }
        if (_watchedRegions.Remove(gone))
        {
            foreach (var (shard, home) in _homes.ToArray())
            {
                if (ReferenceEquals(home, gone)) _homes.Remove(shard);
            }
        }
    }

    // ===== routing =====

    private void Route(object message)
    {
        var entityId = _extractor.GetEntityId(message);
        if (entityId is null)
        {
            DeadLetter(message, $"region {_typeName}: the message extractor gives no entity id for a {message.GetType().Name}");
            return;
        }
        var shard = _extractor.GetShardId(entityId.Value);
        var envelope = new Envelope(message, Context.Sender, Context.TraceContext);
        if (_homes.TryGetValue(shard, out var home))
        {
            Deliver(shard, home, envelope);
            return;
        }
        Buffer(shard, envelope);
    }

    private void Buffer(ShardId shard, Envelope envelope)
    {
        if (_buffered >= _settings.BufferSize)
        {
            ShardingLog.BufferFull(Log, Self.Path, _typeName, _settings.BufferSize, shard.Value);
            DeadLetter(envelope.Message, $"region {_typeName}: buffer full ({_settings.BufferSize} messages) while shard {shard.Value} has no known home");
            return;
        }
        if (!_buffers.TryGetValue(shard, out var list))
        {
            _buffers[shard] = list = new List<Envelope>();
            if (_registered) _coordinator.Tell(new ShardCoordinator.GetShardHome(shard), Self);
        }
        list.Add(envelope);
        _buffered++;
    }

    private void Deliver(ShardId shard, IActorRef home, Envelope envelope)
    {
        if (ReferenceEquals(home, Self)) EnsureLocalShard(shard).Post(envelope);
        else home.Post(envelope);
    }

    private IActorRef EnsureLocalShard(ShardId shard)
    {
        if (_local.TryGetValue(shard, out var existing)) return existing;
        var name = $"shard-{shard.Value}-{++_incarnation}";
        var props = Actors.Props.Create(() => new Shard(_typeName, shard, _entityProps!, _extractor, _settings));
        var created = Context.ActorOf(props, name);
        Context.Watch(created);
        _local[shard] = created;
        _localRefs[created] = shard;
        return created;
    }

    private void DeadLetter(object message, string reason) =>
        Context.System.DeadLetters.Post(new Envelope(new DeadLetter(message, Context.Sender, Self, reason), Context.Sender));
}
