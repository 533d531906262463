using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>
/// The coordinator's durable state, rebuilt by applying journal events in order (event sourcing): members, shard
/// allocations, jobs and their committed layers. <see cref="Apply"/> is pure bookkeeping — every decision is made
/// by the coordinator before it writes the event — so replaying the journal on another node gives the same state.
/// <para>Fencing: each <see cref="TakeoverMarker"/> starts a new epoch (epoch = number of markers so far). An event
/// written by a coordinator of an older epoch after a newer marker is ignored: a deposed coordinator that still
/// wrote for a moment cannot change the state its successor replays.</para>
/// </summary>
public sealed class CoordinatorState
{
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Type, int Shard), ShardAllocation> _allocations = new();
    private readonly Dictionary<string, JobProgress> _jobs = new(StringComparer.Ordinal);

    /// <summary>The epoch of the latest takeover marker applied.</summary>
    public long Epoch { get; private set; }

    /// <summary>The highest allocation number applied (allocation numbers only grow, across epochs).</summary>
    public long LastAllocation { get; private set; }

    /// <summary>Events applied, and events ignored because an older epoch wrote them after a newer takeover.</summary>
    public int Applied { get; private set; }

    public int Fenced { get; private set; }

    public IReadOnlyDictionary<string, Member> Members => _members;

    public IReadOnlyDictionary<(string Type, int Shard), ShardAllocation> Allocations => _allocations;

    public IReadOnlyDictionary<string, JobProgress> Jobs => _jobs;

    /// <summary>Applies one event; false when it was fenced off (an older epoch's late write).</summary>
    public bool Apply(CoordinatorEvent e)
    {
        if (e.EventCase == CoordinatorEvent.EventOneofCase.Takeover)
        {
            Epoch++;
            Applied++;
            return true;
        }
        if (e.Epoch < Epoch)
        {
            Fenced++;
            return false;
        }
        switch (e.EventCase)
        {
            case CoordinatorEvent.EventOneofCase.MemberUp:
                _members[e.MemberUp.NodeId] = e.MemberUp.Clone();
                _members[e.MemberUp.NodeId].Status = MemberStatus.Up;
                break;
            case CoordinatorEvent.EventOneofCase.MemberStatus:
                if (_members.TryGetValue(e.MemberStatus.NodeId, out var m) && m.Incarnation == e.MemberStatus.Incarnation)
                    m.Status = e.MemberStatus.Status;
                break;
            case CoordinatorEvent.EventOneofCase.ShardAllocated:
                var a = e.ShardAllocated;
                _allocations[(a.EntityType, a.Shard)] = new ShardAllocation { EntityType = a.EntityType, Shard = a.Shard, NodeId = a.NodeId, Allocation = a.Allocation };
                LastAllocation = Math.Max(LastAllocation, a.Allocation);
                break;
            case CoordinatorEvent.EventOneofCase.ShardDeallocated:
                _allocations.Remove((e.ShardDeallocated.EntityType, e.ShardDeallocated.Shard));
                break;
            case CoordinatorEvent.EventOneofCase.JobSubmitted:
                if (!_jobs.ContainsKey(e.JobSubmitted.JobId)) _jobs[e.JobSubmitted.JobId] = new JobProgress(e.JobSubmitted.Clone());
                break;
            case CoordinatorEvent.EventOneofCase.LayerCommitted:
                if (_jobs.TryGetValue(e.LayerCommitted.JobId, out var job)) job.Committed.Add(e.LayerCommitted.Layer);
                break;
            case CoordinatorEvent.EventOneofCase.JobFinished:
                if (_jobs.TryGetValue(e.JobFinished.JobId, out var finished)) finished.Finished = e.JobFinished.Clone();
                break;
            default:
                return false; // an event from a newer code version: ignored, as unknown fields are
        }
        Applied++;
        return true;
    }

    /// <summary>Shards allocated to <paramref name="nodeId"/>, in allocation order.</summary>
    public List<ShardAllocation> ShardsOf(string nodeId) =>
        _allocations.Values.Where(a => a.NodeId == nodeId).OrderBy(a => a.Allocation).ToList();

    /// <summary>Members that are Up or Leaving (the ones that must acknowledge a handoff and may send heartbeats).</summary>
    public IEnumerable<Member> Live => _members.Values.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving);

    /// <summary>A snapshot for <see cref="GetClusterState"/>.</summary>
    public ClusterState ToClusterState(string coordinatorNode)
    {
        var state = new ClusterState { CoordinatorNode = coordinatorNode, CoordinatorEpoch = Epoch };
        state.Members.AddRange(_members.Values.OrderBy(m => m.NodeId, StringComparer.Ordinal).Select(m => m.Clone()));
        state.Allocations.AddRange(_allocations.Values.OrderBy(a => a.EntityType, StringComparer.Ordinal).ThenBy(a => a.Shard).Select(a => a.Clone()));
        return state;
    }
}
