using Offload.Compression.Sequential;
using Offload.Coordinator.Job;
using Offload.Coordinator.Telemetry;
using Offload.DeviceActors;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Xunit;

namespace Offload.Coordinator.Tests.Telemetry;

/// <summary>The runtime's instruments during a layer-wise job, compared with what the job itself reports.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class RuntimeMetricsTests
{
    private const int Seq = 16;

    [Fact]
    public void A_spilling_two_device_job_reports_transfers_spills_device_memory_and_mailboxes()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(4, Seq, config.VocabSize, seed: 3);
        // Device indices no other test uses, so parallel jobs elsewhere cannot add to the per-device series.
        DeviceId[] devices = [new(DeviceKind.Cpu, 41), new(DeviceKind.Cpu, 42)];
        const long budget = 1 << 20;

        using var collector = new MetricsCollector();
        var atStop = new Dictionary<string, MetricSnapshot>();
        void OnStopping(DeviceId d)
        {
            if (devices.Contains(d)) lock (atStop) atStop[d.ToString()] = collector.Collect();
        }
        var midRun = new List<MetricSnapshot>();
        var before = collector.Collect();
        DeviceRegistry.Stopping += OnStopping;
        LayerwiseEvalReport report;
        try
        {
            report = LayerwiseEvalJob.Run(new LayerwiseJobOptions
            {
                ModelDir = dir, SeqLen = Seq, BatchRows = 1, Devices = devices, DeviceMemoryBytes = budget, HostMemoryBytes = 3 * Seq * 32 * 4,
            }, tokens, [new CollectAtEachLayer(collector, midRun)]);
        }
        finally
        {
            DeviceRegistry.Stopping -= OnStopping;
        }
        var after = collector.Collect();

        double Delta(string name, string? key = null, string? value = null, Func<MetricPoint, double>? of = null)
        {
            of ??= p => p.Value;
            double Of(MetricSnapshot s) => s.Points.Where(p => p.Name == name && (key is null || p.Attributes.GetValueOrDefault(key) == value)).Sum(of);
            return Of(after) - Of(before);
        }

        Assert.True(report.SpilledBytes > 0, "the host budget must force spills for this test to mean anything");
        Assert.Equal(report.SpilledBytes, Delta(OffloadTelemetry.ActivationSpilled));
        Assert.Equal(report.SpilledBytes, Delta(OffloadTelemetry.TransferSize, OffloadTelemetry.AttrDirection, OffloadTelemetry.Directions.DiskWrite));
        Assert.True(Delta(OffloadTelemetry.TransferSize, OffloadTelemetry.AttrDirection, OffloadTelemetry.Directions.DiskRead) >= report.SpilledBytes);

        foreach (var stats in report.Devices)
        {
            var id = stats.Device.ToString();
            var h2d = after.Points.Single(p => p.Name == OffloadTelemetry.TransferSize && p.Attributes.GetValueOrDefault(OffloadTelemetry.AttrDevice) == id);
            Assert.Equal(OffloadTelemetry.Directions.HostToDevice, h2d.Attributes[OffloadTelemetry.AttrDirection]);
            Assert.Equal(stats.TransferredBytes, Delta(OffloadTelemetry.TransferSize, OffloadTelemetry.AttrDevice, id));
            Assert.Equal(stats.Transfers, Delta(OffloadTelemetry.TransferDuration, OffloadTelemetry.AttrDevice, id, p => p.Count));

            // Observed while the device was stopping: its budget, and what its ledger held (≤ budget, > 0: layers stay cached).
            MetricSnapshot last;
            lock (atStop) last = atStop[id];
            MetricPoint Point(string name) => last.Points.Single(p => p.Name == name && p.Attributes.GetValueOrDefault(OffloadTelemetry.AttrDevice) == id);
            Assert.Equal(budget, Point(OffloadTelemetry.DeviceMemoryLimit).Value);
            Assert.InRange(Point(OffloadTelemetry.DeviceMemoryUsage).Value, 1, stats.PeakBytes);
            Assert.Equal(0, Point(OffloadTelemetry.TransformCacheSize).Value);

            // Mid-run (after layer 2): something resident, never above the budget.
            var usage = midRun[2].Points.Single(p => p.Name == OffloadTelemetry.DeviceMemoryUsage && p.Attributes.GetValueOrDefault(OffloadTelemetry.AttrDevice) == id);
            Assert.InRange(usage.Value, 1, budget);
        }

        Assert.Equal(config.NumHiddenLayers, midRun.Count);
        var actorTypes = midRun[2].Points.Where(p => p.Name == OffloadTelemetry.MailboxDepth).Select(p => p.Attributes[OffloadTelemetry.AttrActorType]).ToHashSet();
        Assert.Contains(nameof(DeviceActor), actorTypes);
        Assert.Contains(nameof(LayerShard), actorTypes);
        Assert.Equal(config.NumHiddenLayers, Delta(OffloadTelemetry.LayersCompleted, OffloadTelemetry.AttrJobKind, "eval"));
    }

    /// <summary>Takes a snapshot at the end of every layer, while the layer's shards and the devices are alive.</summary>
    private sealed class CollectAtEachLayer(MetricsCollector collector, List<MetricSnapshot> snapshots) : IJobListener
    {
        public void OnInitialize(JobStartInfo info) { }
        public void OnCalibrationStart() { }
        public void OnSequentialEpochEnd(int layer, ILayerContext context) => snapshots.Add(collector.Collect());
        public void OnCalibrationEnd() { }
        public void OnFinalize() { }
    }
}
