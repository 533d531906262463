using Offload.Model.Evaluation;

namespace Offload.Coordinator.Cluster;

/// <summary>What a cluster evaluation produced: the result, the first layer run (after a resume), and where each layer ran.</summary>
public sealed record ClusterEvalReport(string JobId, EvalResult? Result, int FirstLayerRun, IReadOnlyList<ClusterLayerPlacement> Layers, TimeSpan Wall);
