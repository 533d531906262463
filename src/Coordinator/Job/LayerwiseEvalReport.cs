using Offload.DeviceActors;
using Offload.Model.Evaluation;

namespace Offload.Coordinator.Job;

/// <summary>What a layer-wise evaluation produced and measured.</summary>
public sealed record LayerwiseEvalReport(
    EvalResult Result,
    int FirstLayerRun,
    IReadOnlyList<DeviceStats> Devices,
    IReadOnlyList<LayerTiming> Layers,
    long WorkspaceBytesPerDevice,
    long HostActivationPeakBytes,
    long SpilledBytes,
    TimeSpan Wall);
