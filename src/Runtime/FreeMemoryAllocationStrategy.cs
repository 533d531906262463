using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;

namespace Offload.Runtime;

/// <summary>
/// Places a new shard on the region whose node reports the most free device memory; ties go to the region holding the
/// fewest shards, then to the lowest node address (host, then port, then the region's path), so the same cluster state
/// always gives the same placement and equal nodes take turns. Regions on
/// members that are leaving, exiting or down get no new shard while another region can take it.
/// <para>
/// Rebalance: none (<see cref="Rebalance"/> returns an empty set). A layer shard is a short-lived work item that holds
/// its parameters on its device: moving it would re-read and re-transfer them while it is working; new shards go where
/// memory is free and a shard whose node leaves is re-allocated through <see cref="AllocateShard"/>.
/// </para>
/// </summary>
public sealed class FreeMemoryAllocationStrategy : IShardAllocationStrategy, IActorSystemDependentAllocationStrategy
{
    private readonly Func<Address, long> _freeDeviceMemory;
    private readonly Func<IActorRef, Address>? _regionAddress;
    private Cluster? _cluster;

    /// <summary>Creates the strategy.</summary>
    /// <param name="freeDeviceMemory">Free device memory in bytes of the node at an address (the most free of its devices,
    /// or their sum, as the caller defines); called on the shard coordinator's node, so it must be cheap and thread-safe.</param>
    /// <param name="regionAddress">The node address of a region; null = the region's path address, or this node's address
    /// for a local region once the coordinator has started the strategy. Tests pass fake addresses for probe regions.</param>
    public FreeMemoryAllocationStrategy(Func<Address, long> freeDeviceMemory, Func<IActorRef, Address>? regionAddress = null)
    {
        ArgumentNullException.ThrowIfNull(freeDeviceMemory);
        _freeDeviceMemory = freeDeviceMemory;
        _regionAddress = regionAddress;
    }

    /// <summary>Called by the shard coordinator when it starts: gives the strategy the cluster (self address and member states).</summary>
    /// <param name="system">The coordinator's actor system.</param>
    public void Start(ActorSystem system) => _cluster = Cluster.Get(system);

    /// <inheritdoc />
    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations)
    {
        ArgumentNullException.ThrowIfNull(currentShardAllocations);
        if (currentShardAllocations.Count == 0)
            return Task.FromResult(requester); // no region registered yet: Akka asks again once one has

        var unavailable = UnavailableNodes();
        IActorRef? best = null;
        Address? bestAddress = null;
        var bestFree = long.MinValue;
        var bestCount = int.MaxValue;
        var bestAvailable = false;
        foreach (var region in currentShardAllocations.Keys)
        {
            var address = AddressOf(region);
            var available = !unavailable.Contains(address);
            var free = _freeDeviceMemory(address);
            var count = currentShardAllocations[region].Count;
            var better = best is null
                || (available && !bestAvailable)
                || (available == bestAvailable && (free > bestFree
                    || (free == bestFree && (count < bestCount
                        || (count == bestCount && Compare(address, region, bestAddress!, best) < 0)))));
            if (!better) continue;
            (best, bestAddress, bestFree, bestCount, bestAvailable) = (region, address, free, count, available);
        }
        return Task.FromResult(best!);
    }

    /// <summary>Never moves a shard (see the type's remarks).</summary>
    /// <param name="currentShardAllocations">Ignored.</param>
    /// <param name="rebalanceInProgress">Ignored.</param>
    /// <returns>An empty set.</returns>
    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations, IImmutableSet<string> rebalanceInProgress) =>
        Task.FromResult<IImmutableSet<string>>(ImmutableHashSet<string>.Empty);

    private Address AddressOf(IActorRef region)
    {
        if (_regionAddress is not null) return _regionAddress(region);
        var address = region.Path.Address;
        return address.HasLocalScope && _cluster is not null ? _cluster.SelfAddress : address;
    }

    private HashSet<Address> UnavailableNodes()
    {
        var set = new HashSet<Address>();
        if (_cluster is null) return set;
        foreach (var m in _cluster.State.Members)
            if (m.Status is MemberStatus.Leaving or MemberStatus.Exiting or MemberStatus.Down or MemberStatus.Removed)
                set.Add(m.Address);
        return set;
    }

    private static int Compare(Address a, IActorRef regionA, Address b, IActorRef regionB)
    {
        var c = string.CompareOrdinal(a.Host ?? "", b.Host ?? "");
        if (c != 0) return c;
        c = (a.Port ?? 0).CompareTo(b.Port ?? 0);
        if (c != 0) return c;
        c = string.CompareOrdinal(a.ToString(), b.ToString());
        return c != 0 ? c : string.CompareOrdinal(regionA.Path.ToString(), regionB.Path.ToString());
    }
}
