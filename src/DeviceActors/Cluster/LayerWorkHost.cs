using Akka.Actor;
using Offload.Compression.Sequential;
using Offload.DeviceActors.DataPlane;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Protocol.Messages;

namespace Offload.DeviceActors.Cluster;

/// <summary>
/// What the layer entities of one node share: the node's devices, its tensor store (data plane, serving outputs) and
/// client (pulling inputs), the open checkpoints of the jobs it works on, and the jobs' modifiers. A job's model is
/// opened on first use from <see cref="JobSpec.ModelDir"/>, which must name the same checkpoint on every node. The
/// modifiers write their per-layer state into a folder of this node (<see cref="StagingRoot"/>), which the entity serves
/// to the coordinator and deletes: a worker never writes into the job's folders.
/// </summary>
public sealed class LayerWorkHost : IDisposable
{
    /// <summary>Jobs kept open at once; opening one more closes the least recently used (its checkpoint and served tensors).</summary>
    public const int MaxOpenJobs = 2;

    private readonly object _gate = new();
    private readonly Dictionary<string, JobModel> _jobs = new(StringComparer.Ordinal);
    private readonly List<string> _recent = new();
    private readonly Func<JobSpec, string, IReadOnlyList<IJobListener>>? _listeners;

    /// <param name="listeners">the modifiers of a job, built from its spec (recipe) and a state folder of this node once per
    /// job on this node; null = none (an evaluation).</param>
    public LayerWorkHost(string nodeId, IReadOnlyList<DeviceClient> devices, TensorStore store, TensorClient client,
        Func<JobSpec, string, IReadOnlyList<IJobListener>>? listeners = null)
    {
        if (devices.Count == 0) throw new ArgumentException("a worker needs at least one device", nameof(devices));
        NodeId = nodeId;
        Devices = devices;
        Store = store;
        Client = client;
        _listeners = listeners;
    }

    public string NodeId { get; }

    public IReadOnlyList<DeviceClient> Devices { get; }

    public TensorStore Store { get; }

    public TensorClient Client { get; }

    /// <summary>This node's folder for the modifiers' per-layer state before it is served (one sub-folder per job).</summary>
    public string StagingRoot { get; init; } = Path.Combine(Path.GetTempPath(), $"offload-node-{Environment.ProcessId}");

    /// <summary>Set when this node was downed or removed from the cluster: its entities stop answering and publish nothing.</summary>
    public volatile bool Downed;

    /// <summary>The staging folder of job <paramref name="jobId"/>.</summary>
    public string StagingDir(string jobId) => Path.Combine(StagingRoot, jobId);

    /// <summary>Called at named points of a layer's work — "node-layer:{l}:started" (inputs pulled),
    /// "node-layer:{l}:computed" (outputs computed, not yet published or answered), each with the suffix ":redelivered"
    /// when the work is redone after another node was lost — for crash tests.</summary>
    public Action<string>? Point { get; init; }

    /// <summary>Where a layer's work is reported (one line per start, redelivery and finish); null = nowhere.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>The props of entity <paramref name="entityId"/> of the shard region "layer-work".</summary>
    public Props EntityProps(string entityId) => Props.Create(() => new LayerWorkEntity(this, entityId));

    /// <summary>The job's open model (config, mapped checkpoint, rotary tables) and its modifiers, opened on first use.</summary>
    internal JobModel Open(JobSpec spec)
    {
        lock (_gate)
        {
            _recent.Remove(spec.JobId);
            _recent.Add(spec.JobId);
            if (_jobs.TryGetValue(spec.JobId, out var open)) return open;
            while (_recent.Count > MaxOpenJobs)
            {
                var oldest = _recent[0];
                _recent.RemoveAt(0);
                if (_jobs.Remove(oldest, out var closed)) closed.Checkpoint.Dispose();
                Store.RemoveAll(oldest + "/");
                if (Directory.Exists(StagingDir(oldest))) Directory.Delete(StagingDir(oldest), recursive: true);
            }
            var config = LlamaConfig.Load(Path.Combine(spec.ModelDir, LlamaConfig.FileName));
            var checkpoint = SafetensorsCheckpoint.Open(spec.ModelDir);
            ModelLoader.Validate(config, checkpoint);
            var staging = StagingDir(spec.JobId);
            Directory.CreateDirectory(staging);
            var listeners = _listeners?.Invoke(spec, staging) ?? [];
            var model = new JobModel(spec, config, checkpoint, new RotaryEmbedding(config), listeners, Hooks?.Invoke(spec));
            foreach (var l in listeners) l.OnInitialize(new JobStartInfo(config, spec.Batches, spec.SeqLen, 0, false));
            foreach (var l in listeners) l.OnCalibrationStart();
            _jobs[spec.JobId] = model;
            return model;
        }
    }

    /// <summary>Forgets a finished job: closes its checkpoint and stops serving its tensors.</summary>
    public void Close(string jobId)
    {
        lock (_gate)
        {
            _recent.Remove(jobId);
            if (_jobs.Remove(jobId, out var model)) model.Checkpoint.Dispose();
        }
        Store.RemoveAll(jobId + "/");
        try
        {
            Directory.Delete(StagingDir(jobId), recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var m in _jobs.Values) m.Checkpoint.Dispose();
            _jobs.Clear();
        }
        try
        {
            if (Directory.Exists(StagingRoot)) Directory.Delete(StagingRoot, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>The online transforms (SpinQuant R3/R4) inside every layer's forward of a job, built from its spec; null = none.</summary>
    public Func<JobSpec, Model.Forward.ILinearInputHook?>? Hooks { get; init; }

    internal sealed record JobModel(JobSpec Spec, LlamaConfig Config, SafetensorsCheckpoint Checkpoint, RotaryEmbedding Rope, IReadOnlyList<IJobListener> Listeners,
        Model.Forward.ILinearInputHook? Hooks);
}
