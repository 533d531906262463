using Offload.Protocol;

namespace Offload.Actors.Sharding;

/// <summary>
/// Owns the entities of one shard in one region: creates an entity on its first message, passivates entities on
/// request or when idle, and stops them all on handoff.
/// <code>
///   (no entity) ──message──► Active ──Passivate / idle──► Passivating ──Terminated──► (no entity)
///                              ▲                             │ messages buffered          │ buffer not empty
///                              └─────────────────────────────┴────────── fresh incarnation ◄┘
///   HandOff: buffered messages go back to the region; every entity gets the stop message;
///            when the last has stopped → ShardStopped to the coordinator, then the shard stops.
/// </code>
/// </summary>
internal sealed class Shard : ReceiveActor
{
    private readonly string _typeName;
    private readonly ShardId _shard;
    private readonly Func<EntityId, Props> _entityProps;
    private readonly IMessageExtractor _extractor;
    private readonly ShardingSettings _settings;
    private readonly Dictionary<EntityId, IActorRef> _entities = new();
    private readonly Dictionary<IActorRef, EntityId> _ids = new();
    private readonly Dictionary<EntityId, long> _lastActivity = new();
    private readonly HashSet<EntityId> _passivating = new();
    private readonly Dictionary<EntityId, List<Envelope>> _buffers = new();
    private IActorRef? _handOffReplyTo;
    private int _buffered;

    public Shard(string typeName, ShardId shard, Func<EntityId, Props> entityProps, IMessageExtractor extractor, ShardingSettings settings)
    {
        _typeName = typeName;
        _shard = shard;
        _entityProps = entityProps;
        _extractor = extractor;
        _settings = settings;
        Receive<ShardRegion.Passivate>(OnPassivate);
        Receive<Terminated>(t => OnEntityTerminated(t.ActorRef));
        Receive<ShardCoordinator.HandOff>(_ => OnHandOff());
        Receive<IdleCheck>(_ => PassivateIdle());
        Receive<StopRemaining>(_ => { foreach (var entity in _entities.Values) Context.Stop(entity); });
        ReceiveAny(message => Route(new Envelope(message, Context.Sender, Context.TraceContext)));
    }

    protected override void PreStart()
    {
        if (_settings.PassivateIdleEntityAfter is { } idle)
            Timers.StartPeriodicTimer(IdleCheck.Instance, IdleCheck.Instance, idle / 2);
    }

    private void Route(Envelope envelope)
    {
        if (_handOffReplyTo is not null)
        {
            Context.Parent.Post(envelope); // the region buffers it until the shard has a new home
            return;
        }
        var id = _extractor.GetEntityId(envelope.Message);
        if (id is not { } entityId)
        {
            Context.System.DeadLetters.Post(new Envelope(new DeadLetter(envelope.Message, envelope.Sender, Self,
                $"shard {_shard.Value} of {_typeName}: the message extractor gives no entity id for a {envelope.Message.GetType().Name}")));
            return;
        }
        if (_passivating.Contains(entityId))
        {
            if (_buffered >= _settings.BufferSize)
            {
                Context.System.DeadLetters.Post(new Envelope(new DeadLetter(envelope.Message, envelope.Sender, Self,
                    $"shard {_shard.Value} of {_typeName}: buffer full ({_settings.BufferSize} messages) while entity {entityId.Value} passivates")));
                return;
            }
            if (!_buffers.TryGetValue(entityId, out var list)) _buffers[entityId] = list = new List<Envelope>();
            list.Add(envelope);
            _buffered++;
            return;
        }
        if (!_entities.TryGetValue(entityId, out var entity))
        {
            entity = Context.ActorOf(_entityProps(entityId), Uri.EscapeDataString(entityId.Value));
            Context.Watch(entity);
            _entities[entityId] = entity;
            _ids[entity] = entityId;
        }
        if (_settings.PassivateIdleEntityAfter is not null) _lastActivity[entityId] = Context.System.TimeProvider.GetTimestamp();
        entity.Post(envelope with { Message = _extractor.GetEntityMessage(envelope.Message) });
    }

    private void OnPassivate(ShardRegion.Passivate passivate)
    {
        if (!_ids.TryGetValue(Sender, out var id) || _passivating.Contains(id)) return;
        ShardingLog.Passivating(Log, _typeName, _shard.Value, id.Value, "requested by the entity");
        _passivating.Add(id);
        Sender.Tell(passivate.StopMessage, Self);
    }

    private void PassivateIdle()
    {
        if (_settings.PassivateIdleEntityAfter is not { } idle || _handOffReplyTo is not null) return;
        var clock = Context.System.TimeProvider;
        foreach (var (id, entity) in _entities)
        {
            if (_passivating.Contains(id) || !_lastActivity.TryGetValue(id, out var last) || clock.GetElapsedTime(last) < idle) continue;
            ShardingLog.Passivating(Log, _typeName, _shard.Value, id.Value, $"idle for {idle.TotalSeconds} s");
            _passivating.Add(id);
            entity.Tell(_settings.HandOffStopMessage, Self);
        }
    }

    private void OnEntityTerminated(IActorRef entity)
    {
        if (!_ids.Remove(entity, out var id)) return;
        _entities.Remove(id);
        _passivating.Remove(id);
        _lastActivity.Remove(id);
        if (_handOffReplyTo is not null)
        {
            if (_entities.Count == 0) FinishHandOff();
            return;
        }
        if (_buffers.Remove(id, out var pending))
        {
            _buffered -= pending.Count;
            foreach (var envelope in pending) Route(envelope); // a fresh incarnation gets them, in order
        }
    }

    private void OnHandOff()
    {
        _handOffReplyTo = Sender;
        foreach (var list in _buffers.Values)
        {
            foreach (var envelope in list) Context.Parent.Post(envelope);
        }
        _buffers.Clear();
        _buffered = 0;
        if (_entities.Count == 0)
        {
            FinishHandOff();
            return;
        }
        foreach (var (id, entity) in _entities)
        {
            if (!_passivating.Contains(id)) entity.Tell(_settings.HandOffStopMessage, Self);
        }
        Timers.StartSingleTimer(StopRemaining.Instance, StopRemaining.Instance, _settings.EntityStopTimeout);
    }

    private void FinishHandOff()
    {
        _handOffReplyTo!.Tell(new ShardCoordinator.ShardStopped(_shard), Context.Parent);
        Context.Stop(Self);
    }

    private sealed record IdleCheck
    {
        public static readonly IdleCheck Instance = new();
    }

    private sealed record StopRemaining
    {
        public static readonly StopRemaining Instance = new();
    }
}
