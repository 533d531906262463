using System.Globalization;
using Offload.Coordinator.Job;
using Offload.Coordinator.Planning;
using Offload.DeviceActors;
using Offload.Model.Import;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;
using Xunit.Abstractions;

namespace Offload.Coordinator.Tests;

/// <summary>
/// `offload plan`'s preflight against what the layer-wise job then measures: each device's peak resident bytes and the
/// host activation peak within 10 % on stories260K and synthetic models, one and two devices, budgets below and above
/// the model, prefetch depths 0–3 and a host budget that spills.
/// </summary>
public sealed class ResidencyPlannerTests(ITestOutputHelper output)
{
    private const double Tolerance = 0.10;

    public sealed record Case(string Model, int Devices, long Budget, int Seq, int Samples, int Batch, int Prefetch, long? Host = null)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Model} ×{Devices} {ByteSize.Format(Budget)} seq {Seq} samples {Samples}/{Batch} prefetch {Prefetch}{(Host is { } h ? $" host {ByteSize.Format(h)}" : "")}");
    }

    public static TheoryData<Case> Cases() => new()
    {
        new Case("stories260K", 1, 4 << 20, 64, 8, 2, 1),               // budget > model (1.0 MB): nothing evicted
        new Case("stories260K", 2, 800_000, 64, 8, 2, 1),               // budget < model
        new Case("stories260K", 2, 1_300_000, 128, 4, 1, 2),
        new Case("deep-bf16", 1, 900_000, 32, 6, 1, 2),                 // 16 layers, 1.6 MB of bf16 parameters
        new Case("deep-f32", 2, 12 << 20, 32, 6, 2, 1),                 // budget > model (3.1 MB)
        new Case("deep-f32", 2, 1_200_000, 32, 6, 2, 0),                // no prefetch
        new Case("deep-f32", 1, 1_500_000, 32, 4, 1, 3, 3 * 32 * 64 * 4), // host budget of 3 batches: spills
    };

    private static string ModelDir(TempDir temp, string name) => name switch
    {
        "stories260K" => ImportStories(temp),
        "deep-bf16" => JobTestModels.Write(temp, JobTestModels.Deep(DType.BF16, tie: true), name).Dir,
        "deep-f32" => JobTestModels.Write(temp, JobTestModels.Deep(DType.F32), name).Dir,
        _ => throw new ArgumentException(name),
    };

    private static string ImportStories(TempDir temp)
    {
        var dir = temp.Sub("stories260K");
        Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), dir);
        return dir;
    }

    private static DeviceId Cpu(int i) => new(DeviceKind.Cpu, i);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Predicted_peaks_are_within_10_percent_of_the_measured_run(Case c)
    {
        using var temp = new TempDir();
        var dir = ModelDir(temp, c.Model);
        var devices = Enumerable.Range(0, c.Devices).Select(Cpu).ToArray();
        var plan = ResidencyPlanner.Plan(new ResidencyPlanRequest
        {
            ModelDir = dir, SeqLen = c.Seq, Samples = c.Samples, BatchRows = c.Batch, Devices = devices, DeviceMemoryBytes = c.Budget,
            HostMemoryBytes = c.Host, PrefetchDepth = c.Prefetch,
        });
        var report = LayerwiseEvalJob.Run(new LayerwiseJobOptions
        {
            ModelDir = dir, SeqLen = c.Seq, BatchRows = c.Batch, Devices = devices, DeviceMemoryBytes = c.Budget, HostMemoryBytes = c.Host,
            PrefetchDepth = c.Prefetch,
        }, JobTestModels.Windows(c.Samples, c.Seq, 512, seed: 11));

        Assert.Equal(report.WorkspaceBytesPerDevice, plan.WorkspaceBytes);
        Assert.Equal(report.Devices.Count, plan.Devices.Count);
        for (var d = 0; d < plan.Devices.Count; d++)
        {
            var (predicted, measured) = (plan.Devices[d], report.Devices[d]);
            Assert.Equal(measured.Device, predicted.Device);
            var error = Math.Abs(predicted.PeakBytes - measured.PeakBytes) / (double)measured.PeakBytes;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {c} | {measured.Device} | {predicted.PeakBytes:N0} | {measured.PeakBytes:N0} | {error * 100:F2} % | {predicted.Evictions} / {measured.Evictions} |"));
            Assert.True(error <= Tolerance, $"{c}, {measured.Device}: predicted {predicted.PeakBytes} B, measured {measured.PeakBytes} B ({error:P1})");
            Assert.True(predicted.PeakBytes <= c.Budget);
        }
        var hostError = Math.Abs(plan.HostActivationPeakBytes - report.HostActivationPeakBytes) / (double)report.HostActivationPeakBytes;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {c} | host activations | {plan.HostActivationPeakBytes:N0} | {report.HostActivationPeakBytes:N0} | {hostError * 100:F2} % | spilled {plan.SpilledBytes:N0} / {report.SpilledBytes:N0} |"));
        Assert.True(hostError <= Tolerance, $"{c}: host activations predicted {plan.HostActivationPeakBytes} B, measured {report.HostActivationPeakBytes} B");
        if (c.Host is not null) Assert.True(report.SpilledBytes > 0 && plan.SpilledBytes > 0, "the host budget case must spill");
    }

    [Fact]
    public void A_budget_too_small_for_a_layer_fails_fast_as_the_run_would()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var planned = Assert.Throws<DeviceMemoryException>(() => ResidencyPlanner.Plan(new ResidencyPlanRequest
        {
            ModelDir = dir, SeqLen = 32, Samples = 2, BatchRows = 1, DeviceMemoryBytes = 20_000,
        }));
        var run = Assert.Throws<DeviceMemoryException>(() => LayerwiseEvalJob.Run(new LayerwiseJobOptions
        {
            ModelDir = dir, SeqLen = 32, BatchRows = 1, Devices = [Cpu(0)], DeviceMemoryBytes = 20_000,
        }, JobTestModels.Windows(2, 32, config.VocabSize, seed: 4)));
        Assert.Equal(run.NeededBytes, planned.NeededBytes);
        Assert.Equal(run.Message, planned.Message);

        var cli = CliHarness.Run("plan", "--model", dir, "--device-memory", "20000", "--seq-len", "32", "--samples", "2", "--batch", "1", "--gflops", "10");
        Assert.Equal(2, cli.Code);
        var line = Assert.Single(CliHarness.Lines(cli.Err));
        Assert.Contains("layer-0", line);
        Assert.Contains("raise --device-memory", line);
    }

    [Fact]
    public void Plan_prints_per_part_rows_each_device_the_host_and_a_time()
    {
        using var temp = new TempDir();
        var (dir, _) = JobTestModels.Write(temp, JobTestModels.Small());
        var r = CliHarness.Run("plan", "--model", dir, "--devices", "cpu:0,cpu:1", "--device-memory", "1MiB", "--host-memory", "64KiB",
            "--seq-len", "32", "--samples", "6", "--batch", "2", "--gflops", "10", "--bandwidth", "1GiB");
        Assert.True(r.Code == 0, r.Err);
        var lines = CliHarness.Lines(r.Out);
        Assert.Equal(6, lines.Count(l => l.StartsWith("layer-", StringComparison.Ordinal)));
        Assert.Single(lines, l => l.StartsWith("head ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("cpu:0: predicted peak", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("cpu:1: predicted peak", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("host: activations peak", StringComparison.Ordinal) && l.Contains("(budget 64.0 KiB)"));
        Assert.Single(lines, l => l.StartsWith("time: ≈", StringComparison.Ordinal) && l.Contains("at 10.0 GFLOP/s") && l.Contains("overlapped"));
    }

    [Fact]
    public void The_time_estimate_adds_transfers_without_prefetch_and_overlaps_them_with_it()
    {
        var c = Offload.Model.Config.LlamaConfig.Parse("""{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 100}""");
        // Two parts: 1 GFLOP and 2 s of transfer; 3 GFLOP and 1 s of transfer (at 1 GFLOP/s and 1 B/s).
        var plan = new ResidencyPlan(c, 1, 0, 0,
            [new PartResidency("layer-0", 0, 0, 2, 0, 0, 1e9), new PartResidency("head", 0, 0, 1, 0, 0, 3e9)], [], 0, 0);
        Assert.Equal(4.0, plan.EstimateTime(1, null, 1).TotalSeconds, 9);
        Assert.Equal(2.0 + 3.0, plan.EstimateTime(1, 1, 1).TotalSeconds, 9);      // max(1, 2) + max(3, 1)
        Assert.Equal(1 + 2 + 3 + 1, plan.EstimateTime(1, 1, 0).TotalSeconds, 9);
        Assert.Equal(2 * 4.0, plan.EstimateTime(1, null, 1, passes: 2).TotalSeconds, 9);
    }
}
