using Offload.Compression.Modifiers;
using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>What `offload compress` runs: the model, the recipe, the calibration data and the runtime's devices and budgets.</summary>
public sealed record CompressOptions
{
    /// <summary>Hugging Face model folder.</summary>
    public required string ModelDir { get; init; }

    /// <summary>The output checkpoint folder (written last, by rename).</summary>
    public required string OutDir { get; init; }

    public required CompressionRecipe Recipe { get; init; }

    /// <summary>Calibration windows ([samples · seqLen] tokens); null when the recipe needs no calibration data.</summary>
    public int[]? Calibration { get; init; }

    public int SeqLen { get; init; } = 512;

    public int BatchRows { get; init; } = 8;

    public IReadOnlyList<DeviceId> Devices { get; init; } = [new DeviceId(DeviceKind.Cpu, 0)];

    public required long DeviceMemoryBytes { get; init; }

    public long? HostMemoryBytes { get; init; }

    public int PrefetchDepth { get; init; } = 1;

    public double? BandwidthBytesPerSecond { get; init; }

    /// <summary>Continue the work folder of an interrupted run.</summary>
    public bool Resume { get; init; }

    /// <summary>Feed the next layer the outputs of the compressed layer (GPTQ's error propagation); false: of the original.</summary>
    public bool PropagateError { get; init; } = true;

    /// <summary>Cluster mode: the calibration's decoder layers run on the nodes of this cluster file (paths shared by the nodes).</summary>
    public Cluster.ClusterFile? Cluster { get; init; }

    /// <summary>Where the resumable state lives while the job runs: "&lt;out&gt;.offload-work" beside the output.</summary>
    public string WorkDir => Path.GetFullPath(OutDir).TrimEnd(Path.DirectorySeparatorChar) + ".offload-work";
}
