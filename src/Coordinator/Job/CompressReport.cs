using Offload.Compression.Gptq;
using Offload.DeviceActors;

namespace Offload.Coordinator.Job;

/// <summary>What a compress job did and measured.</summary>
public sealed record CompressReport(
    string OutDir,
    IReadOnlyList<string> Files,
    bool Rotated,
    int QuantizedLinears,
    int FirstLayerRun,
    IReadOnlyList<DeviceStats> Devices,
    IReadOnlyDictionary<int, LayerTimings> GptqTimings,
    TimeSpan RotationTime,
    TimeSpan CalibrationTime,
    TimeSpan WriteTime,
    TimeSpan Wall);
