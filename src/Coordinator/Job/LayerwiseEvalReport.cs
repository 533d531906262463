using Offload.DeviceActors;
using Offload.Model.Evaluation;

namespace Offload.Coordinator.Job;

/// <summary>What a layer-wise job produced and measured (Result: the evaluation, null for a calibration-only job).</summary>
public sealed record LayerwiseEvalReport(
    EvalResult? Result,
    int FirstLayerRun,
    IReadOnlyList<DeviceStats> Devices,
    IReadOnlyList<LayerTiming> Layers,
    long WorkspaceBytesPerDevice,
    long HostActivationPeakBytes,
    long SpilledBytes,
    TimeSpan Wall);
