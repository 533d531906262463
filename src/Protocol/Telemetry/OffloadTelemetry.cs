using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Offload.Protocol.Telemetry;

/// <summary>
/// The telemetry contract of every Offload process (runtime-semantics.md §4): one Meter and one ActivitySource named
/// "Offload", and the names of every instrument, span, attribute and phase. The instruments are created by
/// <c>OffloadMetrics</c>; this file only fixes the names so that the runtime, the CLI's progress, the dashboard, the
/// Grafana dashboard and the tests agree. Names are dotted lowercase, units UCUM.
/// </summary>
public static class OffloadTelemetry
{
    /// <summary>The Meter and ActivitySource name.</summary>
    public const string Name = "Offload";

    public static readonly ActivitySource Source = new(Name, typeof(OffloadTelemetry).Assembly.GetName().Version?.ToString());

    public static readonly Meter Meter = new(Name, typeof(OffloadTelemetry).Assembly.GetName().Version?.ToString());

    // ---- instrument names (unit, kind) ----------------------------------------------------------------------------
    /// <summary>ObservableUpDownCounter, By; attribute hw.id (device).</summary>
    public const string DeviceMemoryUsage = "offload.device.memory.usage";
    /// <summary>ObservableUpDownCounter, By; attribute hw.id. The device's budget.</summary>
    public const string DeviceMemoryLimit = "offload.device.memory.limit";
    /// <summary>Counter, By; attributes offload.direction (h2d, d2h, disk_read, disk_write, peer), hw.id.</summary>
    public const string TransferSize = "offload.transfer.size";
    /// <summary>Histogram, s; attributes offload.direction, hw.id.</summary>
    public const string TransferDuration = "offload.transfer.duration";
    /// <summary>Histogram, s; attribute calibration.phase (one of <see cref="Phases"/>).</summary>
    public const string PhaseDuration = "offload.calibration.layer.duration";
    /// <summary>Counter, {layer}; attribute offload.job.kind.</summary>
    public const string LayersCompleted = "offload.calibration.layers.completed";
    /// <summary>Counter, {tensor}; attribute hw.id.</summary>
    public const string TransformCacheHits = "offload.transform.cache.hits";
    /// <summary>Counter, {tensor}; attribute hw.id.</summary>
    public const string TransformCacheMisses = "offload.transform.cache.misses";
    /// <summary>ObservableUpDownCounter, By; attribute hw.id. Bytes held by the device's shared transform cache.</summary>
    public const string TransformCacheSize = "offload.transform.cache.size";
    /// <summary>Counter, By. Activation bytes written to disk because the host budget was full.</summary>
    public const string ActivationSpilled = "offload.activation.spilled";
    /// <summary>ObservableUpDownCounter, {message}; attribute actor.type (low cardinality).</summary>
    public const string MailboxDepth = "offload.mailbox.depth";
    /// <summary>Histogram, 1; attribute gptq.module (the module's kind: q_proj, k_proj, …, not its full name). The loss per module.</summary>
    public const string GptqLoss = "offload.gptq.loss";

    /// <summary>Counter, {layer}; attribute offload.job.kind. Layer work asked for again because the node doing it was lost
    /// (counted by the coordinator) and redone on another node (counted there).</summary>
    public const string ClusterLayersRedone = "offload.cluster.layers.redone";

    // ---- push instruments (the observable ones are registered by the components that own the state) ----------
    private static readonly double[] SecondsBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000];

    public static readonly Counter<long> TransferSizeCounter = Meter.CreateCounter<long>(TransferSize, "By", "Bytes moved between tiers and devices");
    public static readonly Histogram<double> TransferDurationHistogram = Meter.CreateHistogram(TransferDuration, "s", "Duration of one transfer",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
    public static readonly Histogram<double> PhaseDurationHistogram = Meter.CreateHistogram(PhaseDuration, "s", "Duration of one phase of one layer",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
    public static readonly Counter<long> LayersCompletedCounter = Meter.CreateCounter<long>(LayersCompleted, "{layer}", "Decoder layers completed by a job");
    public static readonly Counter<long> TransformCacheHitsCounter = Meter.CreateCounter<long>(TransformCacheHits, "{tensor}", "Shared transform weights found in a device's cache");
    public static readonly Counter<long> TransformCacheMissesCounter = Meter.CreateCounter<long>(TransformCacheMisses, "{tensor}", "Shared transform weights created in a device's cache");
    public static readonly Counter<long> ActivationSpilledCounter = Meter.CreateCounter<long>(ActivationSpilled, "By", "Activation bytes spilled to disk beyond the host budget");
    public static readonly Counter<long> ClusterLayersRedoneCounter = Meter.CreateCounter<long>(ClusterLayersRedone, "{layer}", "Layer work redone on another node");
    public static readonly Histogram<double> GptqLossHistogram = Meter.CreateHistogram<double>(GptqLoss, "1", "GPTQ reconstruction loss of one linear");

    /// <summary>
    /// Starts phase <paramref name="phase"/> of layer <paramref name="layer"/>: a child span of the current activity
    /// (when anyone listens) and, on dispose, one <see cref="PhaseDuration"/> record.
    /// </summary>
    public static PhaseScope StartPhase(string jobKind, string phase, int layer) => new(jobKind, phase, layer);

    // ---- spans ----------------------------------------------------------------------------------------------------
    /// <summary>One per job; tags offload.job.kind, offload.layers, offload.batches, offload.devices.</summary>
    public const string JobSpan = "offload.job";
    /// <summary>One per decoder layer (and "embed" / "head"), child of the job span; tag offload.layer.</summary>
    public const string LayerSpan = "offload.layer";
    /// <summary>One per phase of a layer, child of the layer span; tags calibration.phase, offload.layer.</summary>
    public const string PhaseSpan = "offload.phase";
    /// <summary>One per GPTQ-solved linear; tags gptq.module (full name), gptq.loss.</summary>
    public const string GptqModuleSpan = "offload.gptq.module";
    /// <summary>
    /// One per actor message whose envelope carries a trace context (when anyone listens): a child of the sender's
    /// span, current while the handler runs; tags actor.type, offload.message.type. Status error when the handler threw.
    /// </summary>
    public const string ActorMessageSpan = "offload.actor.message";

    // ---- attributes -----------------------------------------------------------------------------------------------
    public const string AttrDevice = "hw.id";
    public const string AttrDirection = "offload.direction";
    public const string AttrPhase = "calibration.phase";
    public const string AttrLayer = "offload.layer";
    public const string AttrJobKind = "offload.job.kind";
    public const string AttrLayers = "offload.layers";
    public const string AttrBatches = "offload.batches";
    public const string AttrDevices = "offload.devices";
    public const string AttrActorType = "actor.type";
    /// <summary>The message's type name (its class, not its content), on <see cref="ActorMessageSpan"/>.</summary>
    public const string AttrMessageType = "offload.message.type";
    public const string AttrGptqModule = "gptq.module";
    public const string AttrGptqLoss = "gptq.loss";

    /// <summary>The phases of a layer (runtime-semantics.md §4.5), in order.</summary>
    public static class Phases
    {
        public const string Onload = "onload";
        public const string Calibrate = "calibrate";
        public const string Optimize = "optimize";
        public const string Propagate = "propagate";
        public const string Compress = "compress";
        public const string Offload = "offload";
        public const string Save = "save";
    }

    /// <summary>Transfer directions.</summary>
    public static class Directions
    {
        public const string HostToDevice = "h2d";
        public const string DeviceToHost = "d2h";
        public const string DiskRead = "disk_read";
        public const string DiskWrite = "disk_write";
        public const string Peer = "peer";
    }
}
