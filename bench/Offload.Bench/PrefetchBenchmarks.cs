using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Offload.Coordinator.Job;
using Offload.Model.Synthetic;
using Offload.Protocol;

namespace Offload.Bench;

/// <summary>
/// Layer-wise evaluation through one CPU virtual device with a simulated host→device bandwidth, with and without
/// prefetch. The device holds the forward workspace plus two layers (the model is ~6× larger), and the bandwidth is
/// calibrated in setup so that one layer's transfer takes about as long as its compute — the case where overlap
/// matters most. Targets: with prefetch, wall ≤ 1.15 × max(total compute, total transfer); without, wall ≈ their sum.
/// After the run, each case prints total compute, total transfer, wall, both ratios and the exposed-transfer share
/// of every layer (time its batches waited for parameters / the layer's wall time).
/// Run: <c>dotnet run -c Release --project bench/Offload.Bench -- --filter '*PrefetchBenchmarks*'</c>.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3)]
public class PrefetchBenchmarks
{
    private const int Seq = 512;
    private const int Windows = 4;
    private const int Layers = 16;

    private string _dir = null!;
    private int[] _tokens = null!;
    private long _budget;
    private double _bandwidth;
    private readonly List<LayerwiseEvalReport> _reports = new();

    [Params(0, 1, 2)]
    public int PrefetchDepth { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), $"offload-prefetch-bench-{Guid.NewGuid():N}");
        var options = new SynthOptions
        {
            Layers = Layers, Hidden = 256, Intermediate = 688, Heads = 4, KvHeads = 4, Vocab = 512, DType = DType.F32, Seed = 3,
        };
        var config = SyntheticCheckpoint.Write(_dir, options);
        var rng = new Random(1);
        _tokens = Enumerable.Range(0, Windows * Seq).Select(_ => rng.Next(config.VocabSize)).ToArray();
        long layerBytes = 4L * (2L * config.HiddenSize * config.QDim + 2L * config.HiddenSize * config.KvDim
            + 3L * config.HiddenSize * config.IntermediateSize + 2L * config.HiddenSize);
        var workspace = Offload.DeviceActors.ForwardWorkspace.Decoder(config, DType.F32, Windows, Seq);
        _budget = workspace + 2 * layerBytes + 4096;

        // Calibrate: compute per layer without simulated transfers.
        var calib = Run(prefetch: 0, bandwidth: null);
        var perLayer = calib.Layers.Where(l => l.Shard != "head").Average(l => l.Compute.TotalSeconds);
        _bandwidth = layerBytes / perLayer;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"// setup: {Layers} layers of {layerBytes / 1e6:F2} MB, budget {_budget / 1e6:F2} MB, compute {perLayer * 1e3:F1} ms/layer → bandwidth {_bandwidth / 1e6:F1} MB/s"));
    }

    [Benchmark]
    public double Layerwise_eval() => Run(PrefetchDepth, _bandwidth).Result.MeanNll;

    private LayerwiseEvalReport Run(int prefetch, double? bandwidth)
    {
        var report = LayerwiseEvalJob.Run(new LayerwiseJobOptions
        {
            ModelDir = _dir, SeqLen = Seq, BatchRows = Windows, Devices = [new DeviceId(DeviceKind.Cpu, 0)],
            DeviceMemoryBytes = _budget, PrefetchDepth = prefetch, BandwidthBytesPerSecond = bandwidth,
        }, _tokens);
        if (bandwidth is not null) _reports.Add(report);
        return report;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        var inv = CultureInfo.InvariantCulture;
        // The last (measured) invocation; the warm-up ones are ignored.
        var r = _reports[^1];
        var compute = r.Layers.Sum(l => l.Compute.TotalSeconds);
        var transfer = r.Devices.Sum(d => d.TransferTime.TotalSeconds);
        var wall = r.Wall.TotalSeconds;
        Console.WriteLine(string.Create(inv,
            $"// prefetch depth {PrefetchDepth}: compute {compute:F3} s, transfer {transfer:F3} s, wall {wall:F3} s, wall/max = {wall / Math.Max(compute, transfer):F3}, wall/sum = {wall / (compute + transfer):F3}, peak {r.Devices[0].PeakBytes / 1e6:F2} of {r.Devices[0].BudgetBytes / 1e6:F2} MB"));
        Console.WriteLine("// exposed-transfer share per layer: " + string.Join(" ", r.Layers.Select(l => string.Create(inv, $"{l.Shard}={l.ExposedTransferShare(1):F2}"))));
        _reports.Clear();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}
