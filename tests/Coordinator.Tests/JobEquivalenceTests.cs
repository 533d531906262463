using Offload.Coordinator.Job;
using Offload.DeviceActors;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Xunit;

namespace Offload.Coordinator.Tests;

public sealed class JobEquivalenceTests
{
    private const int Seq = 32;
    private const int Windows = 6;
    private const int Rows = 1;

    private static DeviceId Cpu(int i) => new(DeviceKind.Cpu, i);

    [Theory]
    [InlineData(DType.F32, false, 16, 600_000L)]
    [InlineData(DType.BF16, true, 32, 530_000L)]
    public void Layerwise_eval_of_a_model_over_4x_the_budget_equals_the_resident_forward_bitwise(DType dtype, bool tie, int layers, long budget)
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Deep(dtype, tie) with { Layers = layers });
        var tokens = JobTestModels.Windows(Windows, Seq, config.VocabSize, seed: 1);

        long modelBytes, largestShard;
        using (var checkpoint = SafetensorsCheckpoint.Open(dir))
        {
            modelBytes = checkpoint.Tensors.Sum(t => t.ByteLength);
            largestShard = Enumerable.Range(0, config.NumHiddenLayers)
                .Select(l => ModuleTree.LayerParameters(config, l).Sum(p => checkpoint.Descriptor(p.Name).ByteLength))
                .Max();
        }
        Assert.True(modelBytes >= 4 * budget, $"model {modelBytes} B is not ≥ 4 × the budget {budget} B");

        var report = LayerwiseEvalJob.Run(new LayerwiseJobOptions
        {
            ModelDir = dir, SeqLen = Seq, BatchRows = Rows, Devices = [Cpu(0)], DeviceMemoryBytes = budget, PrefetchDepth = 1,
        }, tokens);

        using var lm = ModelLoader.Load(dir);
        var expected = PerplexityEvaluator.Evaluate(lm, tokens, Seq, Rows);
        Assert.Equal(expected.WindowNll.ToArray(), report.Result.WindowNll.ToArray()); // exact double equality
        Assert.Equal(expected.MeanNll, report.Result.MeanNll);

        var device = Assert.Single(report.Devices);
        Assert.True(device.PeakBytes <= budget, $"peak {device.PeakBytes} B over the budget {budget} B");
        // Cross-check: the device must at some point have held the workspace plus the largest decoder layer.
        Assert.True(device.PeakBytes >= report.WorkspaceBytesPerDevice + largestShard);
        // The model did not fit: its layers streamed through the device (each finished layer is dropped), so more bytes
        // went to the device than it can hold at once.
        Assert.True(device.TransferredBytes > budget, $"transferred {device.TransferredBytes} B, budget {budget} B");
    }

    [Fact]
    public void One_two_and_four_devices_give_identical_results_and_output_files()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Deep(DType.BF16));
        var tokens = JobTestModels.Windows(8, Seq, config.VocabSize, seed: 2);
        var results = new List<(double[] Nll, byte[] File, LayerwiseEvalReport Report)>();
        foreach (var n in new[] { 1, 2, 4 })
        {
            var outDir = temp.Sub($"out{n}");
            var report = LayerwiseEvalJob.Run(new LayerwiseJobOptions
            {
                ModelDir = dir, SeqLen = Seq, BatchRows = 2, Devices = Enumerable.Range(0, n).Select(Cpu).ToArray(),
                DeviceMemoryBytes = 900_000, PrefetchDepth = 1, OutDir = outDir,
            }, tokens);
            Assert.Equal(n, report.Devices.Count);
            Assert.All(report.Devices, d => Assert.True(d.PeakBytes <= 900_000));
            Assert.All(report.Devices, d => Assert.True(d.TransferredBytes > 0)); // every device worked
            results.Add((report.Result.WindowNll.ToArray(), File.ReadAllBytes(Path.Combine(outDir, LayerwiseEvalJob.ResultFolder, LayerwiseEvalJob.ResultFile)), report));
        }
        Assert.Equal(results[0].Nll, results[1].Nll);
        Assert.Equal(results[0].Nll, results[2].Nll);
        Assert.Equal(results[0].File, results[1].File);
        Assert.Equal(results[0].File, results[2].File);
    }

    [Fact]
    public void Activations_spill_to_files_under_a_small_host_budget_without_changing_results()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(6, Seq, config.VocabSize, seed: 3);
        LayerwiseJobOptions Options(long? host) => new()
        {
            ModelDir = dir, SeqLen = Seq, BatchRows = 1, Devices = [Cpu(0), Cpu(1)], DeviceMemoryBytes = 1 << 20, HostMemoryBytes = host,
        };
        var free = LayerwiseEvalJob.Run(Options(null), tokens);
        var batchBytes = (long)Seq * config.HiddenSize * 4;
        var tight = LayerwiseEvalJob.Run(Options(3 * batchBytes), tokens);
        Assert.Equal(free.Result.WindowNll.ToArray(), tight.Result.WindowNll.ToArray());
        Assert.Equal(0, free.SpilledBytes);
        Assert.True(tight.SpilledBytes > 0);
        Assert.True(tight.HostActivationPeakBytes <= 3 * batchBytes);
    }

    [Fact]
    public void A_budget_too_small_for_one_layer_fails_before_any_work_with_needed_and_available_bytes()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(2, Seq, config.VocabSize, seed: 4);
        var ex = Assert.Throws<DeviceMemoryException>(() => LayerwiseEvalJob.Run(new LayerwiseJobOptions
        {
            ModelDir = dir, SeqLen = Seq, Devices = [Cpu(0)], DeviceMemoryBytes = 20_000,
        }, tokens));
        Assert.Equal(20_000, ex.AvailableBytes);
        Assert.True(ex.NeededBytes > 20_000);
        Assert.Contains("layer-0", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }
}
