using Offload.Actors;
using Offload.Actors.Cluster;
using Offload.Compression.Sequential;
using Offload.DeviceActors.DataPlane;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Protocol.Cluster;

namespace Offload.DeviceActors.Cluster;

/// <summary>
/// What the layer entities of one node share: the node's devices, its tensor store (data plane, serving outputs) and
/// client (pulling inputs), the open checkpoints of the jobs it works on, and the jobs' modifiers. A job's model is
/// opened on first use from <see cref="JobSpec.ModelDir"/>, which must name the same checkpoint on every node.
/// </summary>
public sealed class LayerWorkHost : IDisposable
{
    /// <summary>The entity type name: entity "{job}/layer-{l}" runs layer l of a job.</summary>
    public const string EntityTypeName = "layer";

    /// <summary>Jobs kept open at once; opening one more closes the least recently used (its checkpoint and served tensors).</summary>
    public const int MaxOpenJobs = 2;

    private readonly object _gate = new();
    private readonly Dictionary<string, JobModel> _jobs = new(StringComparer.Ordinal);
    private readonly List<string> _recent = new();
    private readonly Func<JobSpec, IReadOnlyList<IJobListener>>? _listeners;

    /// <param name="listeners">the modifiers of a job, built from its spec (recipe) once per job on this node; null = none (an evaluation).</param>
    public LayerWorkHost(string nodeId, IReadOnlyList<DeviceClient> devices, TensorStore store, TensorClient client,
        Func<JobSpec, IReadOnlyList<IJobListener>>? listeners = null)
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

    /// <summary>Called at named points of a layer's work — "node-layer:{l}:started" (inputs pulled),
    /// "node-layer:{l}:computed" (outputs computed, not yet published or answered), each with the suffix ":redelivered"
    /// when the work is redone after another node was lost — for crash tests.</summary>
    public Action<string>? Point { get; init; }

    /// <summary>Where a layer's work is reported (one line per start, redelivery and finish); null = nowhere.</summary>
    public TextWriter? Log { get; init; }

    /// <summary>The sharded entity type to register with the <see cref="ClusterNode"/>.</summary>
    public ClusterEntityType EntityType => new(EntityTypeName, id => Props.Create(() => new LayerWorkEntity(this, id.Value))) { ReceivesDeliveries = true };

    /// <summary>The entity id of layer <paramref name="layer"/> of job <paramref name="jobId"/>.</summary>
    public static string EntityId(string jobId, int layer) => $"{jobId}/layer-{layer}";

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
            }
            var config = LlamaConfig.Load(Path.Combine(spec.ModelDir, LlamaConfig.FileName));
            var checkpoint = SafetensorsCheckpoint.Open(spec.ModelDir);
            ModelLoader.Validate(config, checkpoint);
            var listeners = _listeners?.Invoke(spec) ?? [];
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
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var m in _jobs.Values) m.Checkpoint.Dispose();
            _jobs.Clear();
        }
    }

    /// <summary>The online transforms (SpinQuant R3/R4) inside every layer's forward of a job, built from its spec; null = none.</summary>
    public Func<JobSpec, Model.Forward.IActivationHooks?>? Hooks { get; init; }

    internal sealed record JobModel(JobSpec Spec, LlamaConfig Config, SafetensorsCheckpoint Checkpoint, RotaryEmbedding Rope, IReadOnlyList<IJobListener> Listeners,
        Model.Forward.IActivationHooks? Hooks);
}
