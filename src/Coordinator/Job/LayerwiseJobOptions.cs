using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>How a layer-wise job runs: the model, the windows per batch, the devices and their budgets, prefetch, host activation budget, journal.</summary>
public sealed record LayerwiseJobOptions
{
    /// <summary>Hugging Face model folder (config.json + safetensors).</summary>
    public required string ModelDir { get; init; }

    /// <summary>Tokens per window.</summary>
    public required int SeqLen { get; init; }

    /// <summary>Windows per batch (a batch is the unit that goes to one device).</summary>
    public int BatchRows { get; init; } = 8;

    /// <summary>The devices (CPU virtual devices cpu:0 … cpu:N−1); batches of a layer are split over all of them.</summary>
    public IReadOnlyList<DeviceId> Devices { get; init; } = [new DeviceId(DeviceKind.Cpu, 0)];

    /// <summary>Each device's memory budget in bytes.</summary>
    public required long DeviceMemoryBytes { get; init; }

    /// <summary>Simulated host→device bandwidth (bytes/s); null = copy time only.</summary>
    public double? BandwidthBytesPerSecond { get; init; }

    /// <summary>Layers onloaded ahead of the one computing (0 = no prefetch: every onload is synchronous).</summary>
    public int PrefetchDepth { get; init; } = 1;

    /// <summary>Host bytes for the activations kept between layers; beyond it batches spill to files. Null = no limit.</summary>
    public long? HostMemoryBytes { get; init; }

    /// <summary>Output folder (journal/ and result/); null = no journal, nothing written.</summary>
    public string? OutDir { get; init; }

    /// <summary>Continue the journal in <see cref="OutDir"/> from its first incomplete layer.</summary>
    public bool Resume { get; init; }

    /// <summary>Words that identify the job for the fingerprint besides the tokens (e.g. "eval first 64 windows").</summary>
    public string JobDescription { get; init; } = "layerwise-eval";

    /// <summary>Online transforms inside every decoder layer's forward (SpinQuant R3/R4), or null.</summary>
    public Model.Forward.ILinearInputHook? Hooks { get; init; }

    /// <summary>Run final norm + lm_head and score the windows (evaluation); false for calibration-only jobs.</summary>
    public bool ScoreHead { get; init; } = true;

    /// <summary>When a listener replaced a layer's parameters, re-run the layer so the next one sees its new outputs (error propagation).</summary>
    public bool PropagateModified { get; init; } = true;

    /// <summary>Cluster jobs: the recipe text every node builds the job's modifiers and online hooks from (null: none).</summary>
    public string? RecipeYaml { get; init; }

    /// <summary>Cluster jobs: the folder (shared by the nodes) where each layer's modifier state is written (GPTQ results).</summary>
    public string? StateDir { get; init; }

    /// <summary>The job's kind in telemetry (offload.job.kind): "eval" or "compress".</summary>
    public string JobKind { get; init; } = "eval";

    /// <summary>Delay used for simulated transfers; null = wall clock.</summary>
    public DeviceActors.ITransferDelay? TransferDelay { get; init; }

    public void Validate()
    {
        if (SeqLen < 2) throw new OffloadException($"--seq-len {SeqLen}: must be ≥ 2");
        if (BatchRows < 1) throw new OffloadException($"--batch {BatchRows}: must be ≥ 1");
        if (Devices.Count == 0) throw new OffloadException("--devices: give at least one device, e.g. cpu:0");
        if (Devices.Distinct().Count() != Devices.Count) throw new OffloadException($"--devices {string.Join(",", Devices)}: a device is listed twice");
        foreach (var d in Devices)
            if (d.Kind != DeviceKind.Cpu) throw new OffloadException($"--devices: {d} needs a CUDA backend, which this build does not have; use cpu:N virtual devices");
        if (DeviceMemoryBytes <= 0) throw new OffloadException("--device-memory must be positive");
        if (PrefetchDepth < 0) throw new OffloadException($"--prefetch-depth {PrefetchDepth}: must be ≥ 0");
        if (Resume && OutDir is null) throw new OffloadException("--resume needs --out (the folder holding the journal)");
    }
}
