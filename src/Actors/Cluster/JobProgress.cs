using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>A job the coordinator knows: its spec, the layers committed so far, and how it finished (null while it runs).</summary>
public sealed class JobProgress(JobSpec spec)
{
    public JobSpec Spec { get; } = spec;

    public SortedSet<int> Committed { get; } = new();

    public JobFinished? Finished { get; set; }

    /// <summary>The first layer not committed (layers are committed in order, so this is where a resumed job continues).</summary>
    public int NextLayer
    {
        get
        {
            var next = 0;
            while (Committed.Contains(next)) next++;
            return next;
        }
    }
}
