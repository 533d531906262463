using Akka.Actor;
using Akka.DistributedData;

namespace Offload.Runtime;

/// <summary>
/// "Am I still part of the cluster's majority?" — asked right before a node writes or hands in a job's results. A read
/// of a replicated key with <see cref="ReadMajority"/> needs answers from a majority of the members: a node the others
/// have downed (frozen past the failure detector, partitioned) is quarantined by them and gets no answers, so the read
/// fails and the node writes nothing — even when it has not yet noticed that it was removed, and even when the actor it
/// would report to lives on its own process (a frozen node that hosted the coordinator).
/// </summary>
public static class MajorityFence
{
    /// <summary>How long the majority read may take.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    /// <summary>True when a majority of the members answered a read of <see cref="FreeMemoryGossip.Key"/>.</summary>
    /// <param name="system">The node's actor system.</param>
    public static async Task<bool> ConfirmAsync(ActorSystem system)
    {
        var replicator = DistributedData.Get(system).Replicator;
        try
        {
            var answer = await replicator.Ask<IGetResponse>(Dsl.Get(FreeMemoryGossip.Key, new ReadMajority(Timeout)), Timeout + TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            return answer is GetSuccess or NotFound;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return false;
        }
    }
}
