using System.Diagnostics;
using System.Diagnostics.Metrics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Offload.Protocol.Cluster;
using Offload.Protocol.Telemetry;

namespace Offload.Actors.Cluster;

/// <summary>
/// The shard coordinator as a cluster singleton. Every coordinator-role node runs one of these; each consumes the
/// coordinator queue, which is a single-active-consumer queue, so the broker delivers to exactly one of them at a
/// time. A node becomes the coordinator on the first delivery it gets: it appends a takeover marker to the journal,
/// replays the journal up to that marker, and from then on handles commands one at a time, writing an event (and
/// waiting for the broker's confirm) before it acts on a decision. When its connection drops it stops being the
/// coordinator; the broker activates another node's consumer, which takes over the same way.
/// <code>
///  Join ─► MemberUp ─► Welcome           Heartbeat ─► last seen (no event)
///  tick: no heartbeat for N intervals ─► MemberStatus(Down) ─► ShardDeallocated… ─► ShardAllocated… ─► HostShard
///  GetShardHome ─► allocated? ─► ShardHome │ else ShardAllocated ─► HostShard ─► ShardHome
///  Leave ─► MemberStatus(Leaving) ─► per shard: BeginHandOff ─► all ─► BeginHandOffAck from all ─► HandOff ─► owner
///        ─► ShardStopped ─► ShardDeallocated ─► ShardAllocated elsewhere ─► HostShard … ─► MemberStatus(Removed) ─► LeaveCompleted
///  SubmitJob ─► JobSubmitted ─► JobAccepted(next layer)      LayerCommitted / JobFinished ─► journaled once
/// </code>
/// Handlers are idempotent: a command redelivered after a takeover (it was not acknowledged) changes nothing twice.
/// </summary>
public sealed class ShardCoordinatorSingleton : IAsyncDisposable
{
    private readonly ClusterClient _client;
    private readonly ClusterSettings _settings;
    private readonly CoordinatorJournal _journal;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, long> _lastSeen = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Type, int Shard), HandOffState> _handOffs = new();
    private readonly Dictionary<(string Type, int Shard), HashSet<string>> _waiting = new();
    private readonly HashSet<(string Type, int Shard)> _reportedUnallocatable = new();
    private readonly CancellationTokenSource _stop = new();
    private CoordinatorState _state = new();
    private QueueConsumer? _consumer;
    private Task? _ticker;
    private volatile bool _active;

    private ShardCoordinatorSingleton(ClusterClient client, ILoggerFactory loggerFactory, TimeProvider clock)
    {
        _client = client;
        _settings = client.Settings;
        _log = loggerFactory.CreateLogger<ShardCoordinatorSingleton>();
        _journal = new CoordinatorJournal(client.Broker, _log);
        _clock = clock;
        client.Broker.Lost += OnConnectionLost;
        _ = s_members.Value;
        s_live.TryAdd(this, 0);
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ShardCoordinatorSingleton, byte> s_live = new();

    // One instrument per process; it reports the members known to the coordinators of this process that are active.
    private static readonly Lazy<ObservableUpDownCounter<long>> s_members = new(() =>
        OffloadTelemetry.Meter.CreateObservableUpDownCounter(OffloadTelemetry.ClusterMembers,
            () => s_live.Keys.SelectMany(c => c.MemberMeasurements()), "{member}", "Cluster members by status, as the active coordinator knows them"));

    /// <summary>True while this node is the active coordinator.</summary>
    public bool IsActive => _active;

    /// <summary>The epoch of this coordinator's takeover (0 before it ever became active).</summary>
    public long Epoch => _state.Epoch;

    /// <summary>Starts consuming the coordinator queue (standby until the broker makes this consumer active).</summary>
    public static async Task<ShardCoordinatorSingleton> StartAsync(ClusterClient client, ILoggerFactory? loggerFactory = null, TimeProvider? clock = null,
        CancellationToken ct = default)
    {
        var coordinator = new ShardCoordinatorSingleton(client, loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
            clock ?? TimeProvider.System);
        coordinator._consumer = await QueueConsumer.StartAsync(client.Broker, client.Broker.Topology.CoordinatorQueue, 64, client.Types,
            new ProcessedMessageIds(client.Settings.DedupCapacity), coordinator.HandleAsync, log: coordinator._log, ct: ct).ConfigureAwait(false);
        coordinator._ticker = coordinator.TickLoopAsync();
        return coordinator;
    }

    private Task OnConnectionLost()
    {
        if (_active)
        {
            _active = false;
            ClusterLog.CoordinatorInactive(_log, _settings.NodeId, "the connection to the broker was lost");
        }
        return Task.CompletedTask;
    }

    // ===== one command at a time =====

    private async Task HandleAsync(InboundMessage message)
    {
        await _gate.WaitAsync(_stop.Token).ConfigureAwait(false);
        try
        {
            if (!_active) await ActivateAsync().ConfigureAwait(false);
            using var span = StartSpan(message);
            await DispatchAsync(message).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ClusterTransportException or TimeoutException)
        {
            // The journal or a node could not be reached: stop coordinating until the next delivery re-activates us
            // (the command is requeued by the consumer and handled again then).
            _active = false;
            ClusterLog.CoordinatorInactive(_log, _settings.NodeId, ex.Message);
            throw;
        }
        catch (Exception ex)
        {
            ClusterLog.CoordinatorCommandFailed(_log, message.Envelope.Type, ex.Message, ex);
            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static Activity? StartSpan(InboundMessage message)
    {
        ActivityContext.TryParse(message.Envelope.Traceparent, message.Envelope.Tracestate, out var parent);
        var span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.ClusterHandleSpan, ActivityKind.Consumer, parent);
        span?.SetTag(OffloadTelemetry.AttrMessageType, message.Envelope.Type);
        return span;
    }

    private async Task ActivateAsync()
    {
        using var span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.ClusterTakeoverSpan);
        span?.SetTag(OffloadTelemetry.AttrNode, _settings.NodeId);
        var sw = Stopwatch.StartNew();
        var state = new CoordinatorState();
        var read = await _journal.TakeOverAsync(_settings.NodeId, state, _stop.Token).ConfigureAwait(false);
        _state = state;
        _handOffs.Clear();
        _waiting.Clear();
        _reportedUnallocatable.Clear();
        _lastSeen.Clear();
        var now = _clock.GetTimestamp();
        foreach (var m in _state.Live) _lastSeen[m.NodeId] = now; // a grace period: every member gets N intervals to be heard
        _active = true;
        ClusterLog.CoordinatorActive(_log, _settings.NodeId, _state.Epoch, read, sw.Elapsed.TotalSeconds);

        // Re-assert every allocation (a node that stopped consuming during an unfinished handoff resumes) and resume
        // the handoffs of members that were leaving.
        foreach (var a in _state.Allocations.Values.ToList())
        {
            if (_state.Members.TryGetValue(a.NodeId, out var owner) && owner.Status is MemberStatus.Up or MemberStatus.Leaving)
                await _client.SendToNodeAsync(a.NodeId, new HostShard { EntityType = a.EntityType, Shard = a.Shard, Allocation = a.Allocation }).ConfigureAwait(false);
            else
                await ReallocateAsync(a.EntityType, a.Shard, "owner_gone").ConfigureAwait(false);
        }
        foreach (var m in _state.Live.Where(m => m.Status == MemberStatus.Leaving).ToList()) await ContinueLeaveAsync(m).ConfigureAwait(false);
    }

    private Task DispatchAsync(InboundMessage m) => m.Payload switch
    {
        Join join => OnJoinAsync(join.Member),
        Heartbeat heartbeat => OnHeartbeatAsync(heartbeat),
        Leave leave => OnLeaveAsync(leave),
        GetShardHome get => OnGetShardHomeAsync(get, m),
        ShardStarted => Task.CompletedTask,
        BeginHandOffAck ack => OnBeginHandOffAckAsync(ack),
        ShardStopped stopped => OnShardStoppedAsync(stopped),
        GetClusterState => _client.ReplyAsync(m, _state.ToClusterState(_settings.NodeId)),
        SubmitJob submit => OnSubmitJobAsync(submit, m),
        LayerCommitted committed => OnLayerCommittedAsync(committed),
        JobFinished finished => OnJobFinishedAsync(finished),
        _ => throw new InvalidOperationException($"the coordinator does not handle {m.Envelope.Type}"),
    };

    private Task AppendAsync(CoordinatorEvent e)
    {
        e.Epoch = _state.Epoch;
        return AppendAndApplyAsync(e);
    }

    private async Task AppendAndApplyAsync(CoordinatorEvent e)
    {
        await _journal.AppendAsync(e, _stop.Token).ConfigureAwait(false);
        _state.Apply(e);
    }

    // ===== membership =====

    private async Task OnJoinAsync(Member member)
    {
        if (_state.Members.TryGetValue(member.NodeId, out var known))
        {
            if (known.Incarnation > member.Incarnation) return; // a stale Join of an older process
            if (known.Incarnation == member.Incarnation && known.Status is MemberStatus.Up or MemberStatus.Leaving)
            {
                _lastSeen[member.NodeId] = _clock.GetTimestamp();
                await SendWelcomeAsync(member).ConfigureAwait(false);
                return;
            }
            if (known.Incarnation == member.Incarnation)
            {
                // Down or removed: this process must not come back under the same incarnation.
                await _client.SendToNodeAsync(member.NodeId, new MemberDowned { NodeId = member.NodeId, Incarnation = member.Incarnation, Reason = $"this incarnation is {known.Status}; restart the node" }).ConfigureAwait(false);
                return;
            }
            if (known.Status is MemberStatus.Up or MemberStatus.Leaving)
                await DownAsync(known, "it restarted as a new incarnation").ConfigureAwait(false);
        }
        var up = member.Clone();
        up.Status = MemberStatus.Up;
        await AppendAsync(new CoordinatorEvent { MemberUp = up }).ConfigureAwait(false);
        _lastSeen[member.NodeId] = _clock.GetTimestamp();
        ClusterLog.MemberUp(_log, member.NodeId, string.Join(",", member.Roles), member.Devices.Sum(d => d.FreeBytes));
        await SendWelcomeAsync(member).ConfigureAwait(false);
        await AllocateWaitingAsync().ConfigureAwait(false);
    }

    private Task SendWelcomeAsync(Member member) =>
        _client.SendToNodeAsync(member.NodeId, new Welcome
        {
            NodeId = member.NodeId,
            Incarnation = member.Incarnation,
            CoordinatorNode = _settings.NodeId,
            CoordinatorEpoch = _state.Epoch,
        });

    private async Task OnHeartbeatAsync(Heartbeat heartbeat)
    {
        if (!_state.Members.TryGetValue(heartbeat.NodeId, out var member) || member.Incarnation != heartbeat.Incarnation) return;
        if (member.Status is MemberStatus.Down)
        {
            await _client.SendToNodeAsync(heartbeat.NodeId, new MemberDowned { NodeId = heartbeat.NodeId, Incarnation = heartbeat.Incarnation, Reason = "declared down after missed heartbeats" },
                persistent: false).ConfigureAwait(false);
            return;
        }
        if (member.Status is not (MemberStatus.Up or MemberStatus.Leaving)) return;
        _lastSeen[heartbeat.NodeId] = _clock.GetTimestamp();
        if (heartbeat.Devices.Count > 0)
        {
            member.Devices.Clear();
            member.Devices.AddRange(heartbeat.Devices); // free memory is refreshed in memory only (not journaled)
        }
    }

    private async Task DownAsync(Member member, string reason)
    {
        var shards = _state.ShardsOf(member.NodeId);
        await AppendAsync(new CoordinatorEvent
        {
            MemberStatus = new MemberStatusChanged { NodeId = member.NodeId, Incarnation = member.Incarnation, Status = MemberStatus.Down, Reason = reason },
        }).ConfigureAwait(false);
        var missed = _lastSeen.TryGetValue(member.NodeId, out var seen) ? _clock.GetElapsedTime(seen) : TimeSpan.Zero;
        ClusterLog.MemberDown(_log, member.NodeId, missed.TotalSeconds, (int)(missed / _settings.HeartbeatInterval),
            string.Join(",", shards.Select(s => $"{s.EntityType}/{s.Shard}")));
        _lastSeen.Remove(member.NodeId);
        await _client.SendToNodeAsync(member.NodeId, new MemberDowned { NodeId = member.NodeId, Incarnation = member.Incarnation, Reason = reason }).ConfigureAwait(false);

        foreach (var (key, handOff) in _handOffs.ToList())
        {
            if (handOff.Owner == member.NodeId)
            {
                _handOffs.Remove(key); // its entities are gone with it; the shard is reallocated below
                continue;
            }
            handOff.AwaitingAcks.Remove(member.NodeId); // a member that went down counts as having acknowledged
            await SendHandOffIfAckedAsync(key, handOff).ConfigureAwait(false);
        }
        foreach (var s in shards)
        {
            await AppendAsync(new CoordinatorEvent { ShardDeallocated = new ShardDeallocated { EntityType = s.EntityType, Shard = s.Shard, Reason = "member_down" } }).ConfigureAwait(false);
        }
        // Remember-entities: messages may wait in those shards' queues, so they get a new home now, not on next use.
        foreach (var s in shards) await ReallocateAsync(s.EntityType, s.Shard, "member_down").ConfigureAwait(false);
    }

    private async Task OnLeaveAsync(Leave leave)
    {
        if (!_state.Members.TryGetValue(leave.NodeId, out var member) || member.Incarnation != leave.Incarnation) return;
        if (member.Status == MemberStatus.Removed)
        {
            await _client.SendToNodeAsync(leave.NodeId, new LeaveCompleted { NodeId = leave.NodeId, Incarnation = leave.Incarnation }).ConfigureAwait(false);
            return;
        }
        if (member.Status == MemberStatus.Up)
        {
            await AppendAsync(new CoordinatorEvent
            {
                MemberStatus = new MemberStatusChanged { NodeId = member.NodeId, Incarnation = member.Incarnation, Status = MemberStatus.Leaving, Reason = "graceful leave" },
            }).ConfigureAwait(false);
            ClusterLog.MemberLeaving(_log, member.NodeId, string.Join(",", _state.ShardsOf(member.NodeId).Select(s => $"{s.EntityType}/{s.Shard}")));
        }
        if (member.Status == MemberStatus.Leaving) await ContinueLeaveAsync(member).ConfigureAwait(false);
    }

    /// <summary>Hands off every shard of a leaving member that is not moving yet; removes it once it has none.</summary>
    private async Task ContinueLeaveAsync(Member member)
    {
        var shards = _state.ShardsOf(member.NodeId);
        if (shards.Count == 0)
        {
            await AppendAsync(new CoordinatorEvent
            {
                MemberStatus = new MemberStatusChanged { NodeId = member.NodeId, Incarnation = member.Incarnation, Status = MemberStatus.Removed, Reason = "left" },
            }).ConfigureAwait(false);
            _lastSeen.Remove(member.NodeId);
            ClusterLog.MemberRemoved(_log, member.NodeId);
            await _client.SendToNodeAsync(member.NodeId, new LeaveCompleted { NodeId = member.NodeId, Incarnation = member.Incarnation }).ConfigureAwait(false);
            return;
        }
        foreach (var s in shards)
            if (!_handOffs.ContainsKey((s.EntityType, s.Shard))) await StartHandOffAsync(s.EntityType, s.Shard, s.NodeId).ConfigureAwait(false);
    }

    // ===== allocation =====

    private async Task OnGetShardHomeAsync(GetShardHome get, InboundMessage request)
    {
        var key = (get.EntityType, get.Shard);
        if (!_handOffs.ContainsKey(key) && _state.Allocations.TryGetValue(key, out var home))
        {
            await _client.ReplyAsync(request, new ShardHome { EntityType = get.EntityType, Shard = get.Shard, NodeId = home.NodeId }).ConfigureAwait(false);
            return;
        }
        if (request.Envelope.ReplyTo.Length > 0)
        {
            if (!_waiting.TryGetValue(key, out var set)) _waiting[key] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(request.Envelope.ReplyTo);
        }
        if (!_handOffs.ContainsKey(key)) await TryAllocateAsync(get.EntityType, get.Shard).ConfigureAwait(false);
    }

    private async Task<bool> TryAllocateAsync(string entityType, int shard)
    {
        var key = (entityType, shard);
        if (_state.Allocations.ContainsKey(key)) return true;
        var node = ShardPlacement.Choose(_state.Members.Values, n => _state.ShardsOf(n).Count, _settings.ShardMemoryBytes);
        if (node is null)
        {
            if (_reportedUnallocatable.Add(key)) ClusterLog.ShardUnallocatable(_log, entityType, shard);
            return false;
        }
        _reportedUnallocatable.Remove(key);
        var allocation = _state.LastAllocation + 1;
        await AppendAsync(new CoordinatorEvent { ShardAllocated = new ShardAllocated { EntityType = entityType, Shard = shard, NodeId = node, Allocation = allocation } }).ConfigureAwait(false);
        ClusterLog.ShardAllocated(_log, entityType, shard, node, allocation);
        await _client.SendToNodeAsync(node, new HostShard { EntityType = entityType, Shard = shard, Allocation = allocation }).ConfigureAwait(false);
        if (_waiting.Remove(key, out var requesters))
        {
            foreach (var queue in requesters)
                await PublishShardHomeAsync(queue, new ShardHome { EntityType = entityType, Shard = shard, NodeId = node }).ConfigureAwait(false);
        }
        return true;
    }

    private async Task ReallocateAsync(string entityType, int shard, string reason)
    {
        if (await TryAllocateAsync(entityType, shard).ConfigureAwait(false))
            OffloadTelemetry.ClusterShardsReallocatedCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrReallocationReason, reason));
        else if (!_waiting.ContainsKey((entityType, shard)))
            _waiting[(entityType, shard)] = new HashSet<string>(StringComparer.Ordinal); // allocated as soon as a worker joins
    }

    private async Task AllocateWaitingAsync()
    {
        foreach (var key in _waiting.Keys.ToList())
            if (!_handOffs.ContainsKey(key)) await TryAllocateAsync(key.Type, key.Shard).ConfigureAwait(false);
    }

    private async Task PublishShardHomeAsync(string queue, ShardHome home)
    {
        try
        {
            var envelope = EnvelopeCodec.Wrap(home, _settings.NodeId);
            await _client.Broker.PublishAsync("", queue, envelope.ToByteArray(), new RabbitMQ.Client.BasicProperties { MessageId = envelope.MessageId, Type = envelope.Type }).ConfigureAwait(false);
        }
        catch (ClusterTransportException)
        {
            // The requester's queue is gone.
        }
    }

    // ===== handoff =====

    private async Task StartHandOffAsync(string entityType, int shard, string owner)
    {
        var key = (entityType, shard);
        var handOff = new HandOffState(Guid.NewGuid().ToString("N"), owner, _state.Live.Select(m => m.NodeId).ToHashSet(StringComparer.Ordinal), _clock.GetTimestamp());
        handOff.Span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.ClusterHandOffSpan);
        handOff.Span?.SetTag(OffloadTelemetry.AttrEntityType, entityType);
        handOff.Span?.SetTag(OffloadTelemetry.AttrShard, shard);
        handOff.Span?.SetTag(OffloadTelemetry.AttrNode, owner);
        _handOffs[key] = handOff;
        ClusterLog.HandOffStarted(_log, entityType, shard, owner);
        foreach (var node in handOff.AwaitingAcks.ToList())
        {
            if (!await _client.SendToNodeAsync(node, new BeginHandOff { EntityType = entityType, Shard = shard, HandoffId = handOff.Id }).ConfigureAwait(false))
                handOff.AwaitingAcks.Remove(node);
        }
        await SendHandOffIfAckedAsync(key, handOff).ConfigureAwait(false);
    }

    private async Task OnBeginHandOffAckAsync(BeginHandOffAck ack)
    {
        var key = (ack.EntityType, ack.Shard);
        if (!_handOffs.TryGetValue(key, out var handOff) || handOff.Id != ack.HandoffId) return;
        handOff.AwaitingAcks.Remove(ack.NodeId);
        await SendHandOffIfAckedAsync(key, handOff).ConfigureAwait(false);
    }

    private async Task SendHandOffIfAckedAsync((string Type, int Shard) key, HandOffState handOff)
    {
        if (handOff.AwaitingAcks.Count > 0 || handOff.HandOffSent) return;
        handOff.HandOffSent = true;
        await _client.SendToNodeAsync(handOff.Owner, new HandOff { EntityType = key.Type, Shard = key.Shard, HandoffId = handOff.Id }).ConfigureAwait(false);
    }

    private async Task OnShardStoppedAsync(ShardStopped stopped)
    {
        var key = (stopped.EntityType, stopped.Shard);
        if (!_handOffs.TryGetValue(key, out var handOff) || handOff.Id != stopped.HandoffId) return;
        _handOffs.Remove(key);
        var seconds = _clock.GetElapsedTime(handOff.Started).TotalSeconds;
        OffloadTelemetry.ClusterHandOffDurationHistogram.Record(seconds, new KeyValuePair<string, object?>(OffloadTelemetry.AttrHandOffResult, "completed"));
        handOff.Span?.SetTag(OffloadTelemetry.AttrHandOffResult, "completed");
        handOff.Span?.Dispose();
        ClusterLog.HandOffCompleted(_log, stopped.EntityType, stopped.Shard, handOff.Owner, seconds);
        if (_state.Allocations.TryGetValue(key, out var current) && current.NodeId == handOff.Owner)
            await AppendAsync(new CoordinatorEvent { ShardDeallocated = new ShardDeallocated { EntityType = stopped.EntityType, Shard = stopped.Shard, Reason = "handoff" } }).ConfigureAwait(false);
        await ReallocateAsync(stopped.EntityType, stopped.Shard, "handoff").ConfigureAwait(false);
        if (_state.Members.TryGetValue(handOff.Owner, out var owner) && owner.Status == MemberStatus.Leaving) await ContinueLeaveAsync(owner).ConfigureAwait(false);
    }

    // ===== jobs =====

    private async Task OnSubmitJobAsync(SubmitJob submit, InboundMessage request)
    {
        if (!_state.Jobs.TryGetValue(submit.Spec.JobId, out var job))
        {
            await AppendAsync(new CoordinatorEvent { JobSubmitted = submit.Spec }).ConfigureAwait(false);
            job = _state.Jobs[submit.Spec.JobId];
        }
        else if (job.Spec.Fingerprint != submit.Spec.Fingerprint)
        {
            throw new InvalidOperationException($"job {submit.Spec.JobId} exists with another fingerprint; submit it under a new job id");
        }
        await _client.ReplyAsync(request, new JobAccepted { JobId = job.Spec.JobId, NextLayer = job.NextLayer }).ConfigureAwait(false);
    }

    private async Task OnLayerCommittedAsync(LayerCommitted committed)
    {
        if (_state.Jobs.TryGetValue(committed.JobId, out var job) && !job.Committed.Contains(committed.Layer))
            await AppendAsync(new CoordinatorEvent { LayerCommitted = committed }).ConfigureAwait(false);
    }

    private async Task OnJobFinishedAsync(JobFinished finished)
    {
        if (_state.Jobs.TryGetValue(finished.JobId, out var job) && job.Finished is null)
            await AppendAsync(new CoordinatorEvent { JobFinished = finished }).ConfigureAwait(false);
    }

    // ===== timers: missed heartbeats, handoff timeouts, waiting shards =====

    private async Task TickLoopAsync()
    {
        using var timer = new PeriodicTimer(_settings.HeartbeatInterval / 2, _clock);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                if (!_active) continue;
                await _gate.WaitAsync(_stop.Token).ConfigureAwait(false);
                try
                {
                    if (_active) await TickAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is ClusterTransportException or TimeoutException)
                {
                    _active = false;
                    ClusterLog.CoordinatorInactive(_log, _settings.NodeId, ex.Message);
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
    }

    private async Task TickAsync()
    {
        var limit = _settings.HeartbeatInterval * _settings.DownAfterMissedHeartbeats;
        foreach (var member in _state.Live.ToList())
        {
            if (!_lastSeen.TryGetValue(member.NodeId, out var seen)) _lastSeen[member.NodeId] = seen = _clock.GetTimestamp();
            if (_clock.GetElapsedTime(seen) > limit) await DownAsync(member, $"no heartbeat for {_clock.GetElapsedTime(seen).TotalSeconds:F1} s").ConfigureAwait(false);
        }
        foreach (var (key, handOff) in _handOffs.ToList())
        {
            if (_clock.GetElapsedTime(handOff.Started) <= _settings.HandOffTimeout) continue;
            _handOffs.Remove(key);
            OffloadTelemetry.ClusterHandOffDurationHistogram.Record(_clock.GetElapsedTime(handOff.Started).TotalSeconds,
                new KeyValuePair<string, object?>(OffloadTelemetry.AttrHandOffResult, "timed_out"));
            handOff.Span?.SetTag(OffloadTelemetry.AttrHandOffResult, "timed_out");
            handOff.Span?.Dispose();
            ClusterLog.HandOffTimedOut(_log, key.Type, key.Shard, handOff.Owner, _settings.HandOffTimeout.TotalSeconds);
            // The shard stays with its owner; make sure it consumes again (it may have stopped on HandOff).
            if (_state.Allocations.TryGetValue(key, out var a))
                await _client.SendToNodeAsync(a.NodeId, new HostShard { EntityType = a.EntityType, Shard = a.Shard, Allocation = a.Allocation }).ConfigureAwait(false);
        }
        foreach (var leaving in _state.Live.Where(m => m.Status == MemberStatus.Leaving).ToList()) await ContinueLeaveAsync(leaving).ConfigureAwait(false);
        if (_waiting.Count > 0) await AllocateWaitingAsync().ConfigureAwait(false);
    }

    private IEnumerable<Measurement<long>> MemberMeasurements()
    {
        if (!_active) yield break;
        foreach (var group in _state.Members.Values.ToList().GroupBy(m => m.Status))
            yield return new Measurement<long>(group.Count(), new KeyValuePair<string, object?>(OffloadTelemetry.AttrMemberStatus,
                group.Key.ToString().Replace("MemberStatus", "", StringComparison.Ordinal).ToLowerInvariant()));
    }

    /// <summary>Stops consuming (another coordinator-role node's consumer becomes active).</summary>
    public async ValueTask DisposeAsync()
    {
        _client.Broker.Lost -= OnConnectionLost;
        s_live.TryRemove(this, out _);
        _active = false;
        _stop.Cancel();
        if (_consumer is not null) await _consumer.StopAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        if (_ticker is not null)
        {
            try
            {
                await _ticker.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopped
            }
        }
    }

    private sealed class HandOffState(string id, string owner, HashSet<string> awaitingAcks, long started)
    {
        public string Id { get; } = id;
        public string Owner { get; } = owner;
        public HashSet<string> AwaitingAcks { get; } = awaitingAcks;
        public long Started { get; } = started;
        public bool HandOffSent { get; set; }
        public Activity? Span { get; set; }
    }
}
