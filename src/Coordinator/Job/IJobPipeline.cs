using Akka.Actor;

namespace Offload.Coordinator.Job;

/// <summary>
/// The work a <see cref="JobCoordinator"/> sequences, whatever runs it: <see cref="LayerPipeline"/> (this process's devices,
/// the layer replicas as shard-region entities) or <see cref="Cluster.ClusterLayerPipeline"/> (each layer a shard-region
/// entity on a worker node, tensors on the data plane). The coordinator calls, in order: <see cref="StartAsync"/> once,
/// then per layer <see cref="RunLayerAsync"/> → (commit, inside <see cref="InLayer{T}"/>) → <see cref="Advance"/>, then
/// <see cref="FinishAsync"/>.
/// </summary>
internal interface IJobPipeline : IAsyncDisposable
{
    int Layers { get; }

    int Batches { get; }

    /// <summary>Starts the job's actors and modifiers; the first layer to run is <paramref name="first"/>, whose inputs are
    /// <paramref name="resumed"/> (read back from the journal) or, from layer 0, the embedded windows.</summary>
    Task StartAsync(int first, ActivationSet? resumed, ActivationSpace space, ActorSystem system);

    /// <summary>Runs decoder layer <paramref name="l"/> on the current activations → its outputs (owned by the caller until <see cref="Advance"/>).</summary>
    Task<ActivationSet> RunLayerAsync(int l);

    /// <summary>The node that ran the layer last returned by <see cref="RunLayerAsync"/> ("" in one process).</summary>
    string LastLayerNode { get; }

    /// <summary>Runs <paramref name="work"/> for layer <paramref name="l"/> inside its span, as phase <paramref name="phase"/> (the commit's save).</summary>
    T InLayer<T>(int l, string phase, Func<T> work);

    /// <summary>Layer <paramref name="l"/> is committed: its outputs become the next layer's inputs.</summary>
    void Advance(int l, ActivationSet outputs);

    /// <summary>The head (when scoring), calibration_end, the result file, finalize → the job's report.</summary>
    Task<LayerwiseEvalReport> FinishAsync();
}
