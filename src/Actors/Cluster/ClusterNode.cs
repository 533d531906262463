using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>
/// One member of a cluster: joins with its roles and device inventory, heartbeats, hosts the shards the coordinator
/// allocates to it (worker role), runs a standby of the coordinator singleton (coordinator role), hands its shards
/// off on <see cref="LeaveAsync"/>, and stops hosting at once when the coordinator declares it down.
/// <code>
///  start ─► Join (repeated) ─► Welcome ─► Up: heartbeats every interval
///  HostShard ─► consume the shard queue ─► ShardStarted
///  BeginHandOff ─► forget the home ─► BeginHandOffAck      HandOff ─► stop the shard ─► ShardStopped
///  LeaveAsync ─► Leave (repeated) ─► … handoffs … ─► LeaveCompleted
///  MemberDowned ─► stop every shard ─► <see cref="Downed"/> completes (the process should exit or restart)
/// </code>
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private readonly ClusterNodeOptions _options;
    private readonly ClusterSettings _settings;
    private readonly ILogger _log;
    private readonly Dictionary<string, ClusterShardRegion> _regions = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<Welcome> _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> _downed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _left = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _shardCommands = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly bool _ownsSystem;
    private ClusterClient _client = null!;
    private Task _loops = Task.CompletedTask;
    private long _heartbeatSequence;
    private int _disposed;

    private ClusterNode(ClusterNodeOptions options)
    {
        _options = options;
        _settings = options.Settings;
        _log = (options.LoggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger<ClusterNode>();
        _ownsSystem = options.System is null;
        System = options.System ?? ActorSystem.Create("node-" + options.Settings.NodeId, new ActorSystemOptions
        {
            LoggerFactory = options.LoggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
        });
        Incarnation = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }

    public string NodeId => _settings.NodeId;

    /// <summary>Start time of this process (Unix ms): a restarted node is a new member.</summary>
    public long Incarnation { get; }

    public ActorSystem System { get; }

    /// <summary>Sends to entities, the coordinator and other nodes; replies arrive at this node's queue.</summary>
    public ClusterClient Client => _client;

    /// <summary>This node's standby or active coordinator (null without the coordinator role).</summary>
    public ShardCoordinatorSingleton? Coordinator { get; private set; }

    /// <summary>Completes when the coordinator welcomed this node (it is Up).</summary>
    public Task<Welcome> Joined => _joined.Task;

    /// <summary>Completes with the reason when the coordinator declared this node down.</summary>
    public Task<string> Downed => _downed.Task;

    /// <summary>The shards this node hosts now, as "type/shard".</summary>
    public IReadOnlyList<string> HostedShards => _regions.Values.SelectMany(r => r.HostedShards.Select(s => $"{r.TypeName}/{s}")).ToList();

    public static async Task<ClusterNode> StartAsync(ClusterNodeOptions options, CancellationToken ct = default)
    {
        options.Settings.Validate();
        var node = new ClusterNode(options);
        try
        {
            await node.StartCoreAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return node;
    }

    private async Task StartCoreAsync(CancellationToken ct)
    {
        var broker = await BrokerConnection.ConnectAsync(_settings, _settings.NodeId, _options.LoggerFactory, ct).ConfigureAwait(false);
        var queue = broker.Topology.NodeQueue(_settings.NodeId);
        await broker.DeclareAsync(ch => broker.Topology.DeclareNodeAsync(ch, _settings.NodeId, ct), ct).ConfigureAwait(false);
        _client = await ClusterClient.StartAsync(broker, ownsBroker: true, _settings.NodeId, queue, _options.MessageTypes, _options.LoggerFactory, ct).ConfigureAwait(false);
        var processed = new ProcessedMessageIds(_settings.DedupCapacity);
        foreach (var type in _options.EntityTypes)
            _regions[type.Name] = new ClusterShardRegion(type, _client, System, processed, _log);
        _client.Unsolicited = OnCommandAsync;
        if (_settings.IsCoordinator)
            Coordinator = await ShardCoordinatorSingleton.StartAsync(_client, _options.LoggerFactory, _options.Clock, ct).ConfigureAwait(false);
        _loops = Task.WhenAll(JoinLoopAsync(), HeartbeatLoopAsync());
    }

    private Member Self() => new()
    {
        NodeId = _settings.NodeId,
        Incarnation = Incarnation,
        Roles = { _settings.Roles },
        Devices = { _options.Devices() },
        DataPlaneUrl = _options.DataPlaneUrl,
        AppVersion = _options.AppVersion,
        Status = MemberStatus.Up,
    };

    private async Task JoinLoopAsync()
    {
        try
        {
            while (!_joined.Task.IsCompleted && !_downed.Task.IsCompleted)
            {
                await _client.TellCoordinatorAsync(new Join { Member = Self() }, persistent: false, _stop.Token).ConfigureAwait(false);
                await Task.WhenAny(_joined.Task, Task.Delay(_settings.RetryInterval, _options.Clock, _stop.Token)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private async Task HeartbeatLoopAsync()
    {
        try
        {
            await Task.WhenAny(_joined.Task, _downed.Task).WaitAsync(_stop.Token).ConfigureAwait(false);
            using var timer = new PeriodicTimer(_settings.HeartbeatInterval, _options.Clock);
            do
            {
                if (_downed.Task.IsCompleted) return;
                var beat = new Heartbeat { NodeId = NodeId, Incarnation = Incarnation, Sequence = ++_heartbeatSequence, Devices = { _options.Devices() } };
                try
                {
                    await _client.TellCoordinatorAsync(beat, persistent: false, _stop.Token).ConfigureAwait(false);
                }
                catch (ClusterTransportException)
                {
                    // The broker is away longer than the publish timeout; keep trying on the next tick.
                }
            }
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    private async Task OnCommandAsync(InboundMessage message)
    {
        switch (message.Payload)
        {
            case Welcome welcome when welcome.Incarnation == Incarnation:
                if (_joined.TrySetResult(welcome)) ClusterLog.Joined(_log, NodeId, welcome.CoordinatorNode, welcome.CoordinatorEpoch);
                break;
            case HostShard host:
                await WithShardCommandsAsync(async () =>
                {
                    if (_downed.Task.IsCompleted || !_regions.TryGetValue(host.EntityType, out var region)) return;
                    if (await region.HostAsync(host.Shard, host.Allocation, _stop.Token).ConfigureAwait(false))
                        await _client.TellCoordinatorAsync(new ShardStarted { EntityType = host.EntityType, Shard = host.Shard, NodeId = NodeId, Allocation = host.Allocation }).ConfigureAwait(false);
                }).ConfigureAwait(false);
                break;
            case BeginHandOff begin:
                _client.ForgetHome(begin.EntityType, begin.Shard);
                await _client.TellCoordinatorAsync(new BeginHandOffAck { EntityType = begin.EntityType, Shard = begin.Shard, HandoffId = begin.HandoffId, NodeId = NodeId }).ConfigureAwait(false);
                break;
            case HandOff handOff:
                await WithShardCommandsAsync(async () =>
                {
                    if (_regions.TryGetValue(handOff.EntityType, out var region))
                    {
                        var drain = _settings.HandOffTimeout - TimeSpan.FromSeconds(5);
                        await region.StopAsync(handOff.Shard, drain > TimeSpan.FromSeconds(1) ? drain : TimeSpan.FromSeconds(1), "handed off").ConfigureAwait(false);
                    }
                    await _client.TellCoordinatorAsync(new ShardStopped { EntityType = handOff.EntityType, Shard = handOff.Shard, HandoffId = handOff.HandoffId, NodeId = NodeId }).ConfigureAwait(false);
                }).ConfigureAwait(false);
                break;
            case LeaveCompleted left when left.Incarnation == Incarnation:
                _left.TrySetResult();
                break;
            case MemberDowned downed when downed.Incarnation == Incarnation:
                if (_downed.Task.IsCompleted) break;
                ClusterLog.SelfDowned(_log, NodeId, downed.Reason);
                await WithShardCommandsAsync(async () =>
                {
                    foreach (var region in _regions.Values) await region.StopAllAsync(TimeSpan.Zero, "declared down").ConfigureAwait(false);
                }).ConfigureAwait(false);
                _downed.TrySetResult(downed.Reason);
                break;
        }
    }

    private async Task WithShardCommandsAsync(Func<Task> work)
    {
        await _shardCommands.WaitAsync(_stop.Token).ConfigureAwait(false);
        try
        {
            await work().ConfigureAwait(false);
        }
        finally
        {
            _shardCommands.Release();
        }
    }

    /// <summary>Graceful leave: the coordinator hands every shard of this node off (4-step handoff) and then says so;
    /// false when that did not happen within <paramref name="timeout"/>.</summary>
    public async Task<bool> LeaveAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = _options.Clock.GetTimestamp();
        while (!_left.Task.IsCompleted)
        {
            if (_options.Clock.GetElapsedTime(deadline) > timeout) return false;
            await _client.TellCoordinatorAsync(new Leave { NodeId = NodeId, Incarnation = Incarnation }, ct: ct).ConfigureAwait(false);
            await Task.WhenAny(_left.Task, Task.Delay(_settings.RetryInterval * 5, _options.Clock, ct)).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>The coordinator's view of the cluster.</summary>
    public Task<ClusterState> GetClusterStateAsync(TimeSpan timeout, CancellationToken ct = default) =>
        _client.AskCoordinatorAsync<ClusterState>(new GetClusterState(), timeout, ct);

    /// <summary>Stops at once: no leave, no handoff (as a crash would, except that the broker connection closes cleanly,
    /// so unacknowledged messages go back to their queues immediately).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopped
        }
        foreach (var region in _regions.Values) await region.StopAllAsync(TimeSpan.FromSeconds(1), "node stopping").ConfigureAwait(false);
        if (Coordinator is not null) await Coordinator.DisposeAsync().ConfigureAwait(false);
        if (_client is not null) await _client.DisposeAsync().ConfigureAwait(false);
        if (_ownsSystem) await System.Terminate().ConfigureAwait(false);
    }
}
