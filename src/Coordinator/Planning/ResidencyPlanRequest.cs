using Offload.Protocol;

namespace Offload.Coordinator.Planning;

/// <summary>
/// What <see cref="ResidencyPlanner"/> predicts for: a layer-wise job over <see cref="Samples"/> windows of
/// <see cref="SeqLen"/> tokens in batches of <see cref="BatchRows"/>, on <see cref="Devices"/> with the given budgets and
/// prefetch depth — the same knobs as <c>LayerwiseJobOptions</c>.
/// </summary>
public sealed record ResidencyPlanRequest
{
    /// <summary>Hugging Face model folder (config.json + safetensors); only headers are read.</summary>
    public required string ModelDir { get; init; }

    /// <summary>Tokens per window.</summary>
    public required int SeqLen { get; init; }

    /// <summary>Windows (calibration samples or evaluation windows).</summary>
    public required int Samples { get; init; }

    /// <summary>Windows per batch (the unit that goes to one device).</summary>
    public int BatchRows { get; init; } = 8;

    /// <summary>The devices; a job uses min(devices, batches) of them.</summary>
    public IReadOnlyList<DeviceId> Devices { get; init; } = [new DeviceId(DeviceKind.Cpu, 0)];

    /// <summary>Each device's memory budget in bytes.</summary>
    public required long DeviceMemoryBytes { get; init; }

    /// <summary>Host bytes for activations between layers (beyond: spill to files); null = no limit.</summary>
    public long? HostMemoryBytes { get; init; }

    /// <summary>Layers onloaded ahead of the computing one.</summary>
    public int PrefetchDepth { get; init; } = 1;

    /// <summary>
    /// True for a job that modifies every layer after its calibration pass (compress): the layer's device copies are
    /// dropped and it is onloaded again for the propagation pass, as the job does when a listener modified it.
    /// </summary>
    public bool PropagationPass { get; init; }

    /// <summary>Simulated host→device bandwidth (bytes/s) for the time estimate; null = transfers cost nothing.</summary>
    public double? BandwidthBytesPerSecond { get; init; }
}
