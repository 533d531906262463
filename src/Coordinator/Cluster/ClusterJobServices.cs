using System.Security.Cryptography;
using Akka.Actor;
using Offload.Coordinator.Job;
using Offload.DeviceActors;
using Offload.DeviceActors.DataPlane;
using Offload.Protocol.Messages;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// What a coordinator node lends the jobs it coordinates: its first device (embedding and head), its data plane (the
/// layers' inputs are served from its store, outputs pulled with its client) and the shard region "layer-work". Builds a
/// job's pipeline, journal and activation space from its spec — the same on whichever node the singleton runs.
/// </summary>
internal sealed class ClusterJobServices(string nodeId, DeviceClient device, TensorStore store, TensorClient pulls, IActorRef region, TextWriter? log)
{
    public string NodeId { get; } = nodeId;

    public TextWriter? Log { get; } = log;

    /// <summary>The job's pieces; throws a one-line <see cref="JobException"/> when its files are not what the spec says.</summary>
    public (IJobPipeline Pipeline, JobJournal Journal, ActivationSpace Space, JobFingerprint Fingerprint) Build(JobSpec spec)
    {
        var parts = spec.Fingerprint.Split('|');
        if (parts.Length != 3) throw new JobException($"job {spec.JobId}: malformed fingerprint; submit it again");
        var fingerprint = new JobFingerprint(parts[0], parts[1], parts[2]);
        var windows = ReadWindows(spec);
        var journal = JobJournal.Open(spec.OutDir, fingerprint, spec.Layers, spec.Batches, resume: true);
        var spill = Path.Combine(journal.Dir, "spill-" + NodeId);
        if (Directory.Exists(spill)) Directory.Delete(spill, recursive: true);
        var space = new ActivationSpace(spec.HostMemoryBytes > 0 ? spec.HostMemoryBytes : null, spill);
        var pipeline = new ClusterLayerPipeline(spec, windows, device, store, pulls, region, Log);
        return (pipeline, journal, space, fingerprint);
    }

    private static int[] ReadWindows(JobSpec spec)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(spec.WindowsFile);
        }
        catch (IOException ex)
        {
            throw new JobException($"{spec.WindowsFile}: the job's windows cannot be read here ({ex.Message}); the job folder must be at the same path on every coordinator node");
        }
        if (Convert.ToHexStringLower(SHA256.HashData(bytes)) != spec.WindowsSha256 || bytes.Length % 4 != 0)
            throw new JobException($"{spec.WindowsFile}: the job's windows differ from the submitted ones; submit the job again");
        var windows = new int[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, windows, 0, bytes.Length);
        if (!BitConverter.IsLittleEndian) throw new JobException("big-endian hosts are not supported");
        return windows;
    }
}
