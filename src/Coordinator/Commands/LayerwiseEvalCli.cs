using System.CommandLine;
using System.Globalization;
using Offload.Coordinator.Job;
using Offload.Coordinator.Progress;
using Offload.DeviceActors;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>
/// The runtime options of `offload eval` (--devices, --device-memory, --host-memory, --prefetch-depth, --bandwidth,
/// --out, --resume, --progress). When any of --devices, --device-memory or --out is given, eval runs layer-wise through the
/// offloading runtime (<see cref="LayerwiseEvalJob"/>) instead of the resident forward.
/// </summary>
public sealed class LayerwiseEvalCli
{
    public Option<string?> Devices { get; } = new("--devices") { Description = "devices to run on, e.g. cpu:0,cpu:1 (CPU virtual devices); batches are split over them" };
    public Option<string?> DeviceMemory { get; } = new("--device-memory") { Description = "memory budget per device, e.g. 64MiB, 8GiB" };
    public Option<string?> HostMemory { get; } = new("--host-memory") { Description = "host memory for activations between layers; beyond it batches spill to files (default: no limit)" };
    public Option<int> PrefetchDepth { get; } = new("--prefetch-depth") { Description = "layers onloaded ahead of the computing one (0 = none)", DefaultValueFactory = _ => 1 };
    public Option<string?> Bandwidth { get; } = new("--bandwidth") { Description = "simulated host→device bandwidth per second, e.g. 2GiB (virtual devices; default: copy time only)" };
    public Option<string?> Out { get; } = new("--out") { Description = "output folder: journal/ after each layer, result/eval.json at the end" };
    public Option<bool> Resume { get; } = new("--resume") { Description = "continue the journal in --out from its first incomplete layer" };

    /// <summary>--progress auto|bars|plain|none (shared by every job command).</summary>
    public Option<string> Progress { get; } = ProgressOption.Create();

    public IEnumerable<Option> All => [Devices, DeviceMemory, HostMemory, PrefetchDepth, Bandwidth, Out, Resume, Progress];

    /// <summary>True when the command line asks for the runtime.</summary>
    public bool Requested(ParseResult parse) =>
        parse.GetValue(Devices) is not null || parse.GetValue(DeviceMemory) is not null || parse.GetValue(Out) is not null || parse.GetValue(Resume);

    /// <summary>Runs the layer-wise evaluation and prints the protocol's lines plus the runtime's measurements.</summary>
    public int Run(ParseResult parse, string modelDir, int[] tokens, int seqLen, int batch, string description)
    {
        var memoryText = parse.GetValue(DeviceMemory)
            ?? throw new OffloadException("--device-memory is required with --devices/--out (e.g. --device-memory 64MiB)");
        var devices = DeviceList.Parse(parse.GetValue(Devices) ?? "cpu:0");
        double? bandwidth = parse.GetValue(Bandwidth) is { } bw ? ByteSize.Parse(bw.Replace("/s", "", StringComparison.Ordinal), "--bandwidth") : null;
        var options = new LayerwiseJobOptions
        {
            ModelDir = modelDir,
            SeqLen = seqLen,
            BatchRows = batch,
            Devices = devices,
            DeviceMemoryBytes = ByteSize.Parse(memoryText, "--device-memory"),
            HostMemoryBytes = parse.GetValue(HostMemory) is { } hm ? ByteSize.Parse(hm, "--host-memory") : null,
            PrefetchDepth = parse.GetValue(PrefetchDepth),
            BandwidthBytesPerSecond = bandwidth,
            OutDir = parse.GetValue(Out),
            Resume = parse.GetValue(Resume),
            JobDescription = description,
        };
        using var rss = new RssSampler();
        LayerwiseEvalReport report;
        // Progress (bars, plain lines or nothing) follows the job's spans; it ends before the results are printed.
        using (ProgressOption.Start(parse, Progress))
            report = LayerwiseEvalJob.Run(options, tokens);
        var inv = CultureInfo.InvariantCulture;
        var result = report.Result!;
        Console.WriteLine(string.Create(inv, $"scored      {result.Tokens} tokens"));
        Console.WriteLine(string.Create(inv, $"mean NLL    {result.MeanNll:F6} nats/token"));
        Console.WriteLine(string.Create(inv, $"perplexity  {result.Perplexity:F4}"));
        foreach (var d in report.Devices)
        {
            Console.Error.WriteLine(string.Create(inv,
                $"{d.Device}: peak {ByteSize.Format(d.PeakBytes)} ({d.PeakBytes} bytes) of {ByteSize.Format(d.BudgetBytes)} budget (workspace {ByteSize.Format(report.WorkspaceBytesPerDevice)}), transferred {ByteSize.Format(d.TransferredBytes)} in {d.Transfers} transfers ({d.TransferTime.TotalSeconds:F2} s), {d.Evictions} evictions, {d.CacheHits} cache hits"));
        }
        var peak = rss.Stop();
        Console.Error.WriteLine(string.Create(inv,
            $"host: activations peak {ByteSize.Format(report.HostActivationPeakBytes)}, spilled {ByteSize.Format(report.SpilledBytes)}; process RssAnon peak {ByteSize.Format(peak.RssAnonPeak)}, VmHWM {ByteSize.Format(peak.VmHwm)}"));
        var compute = TimeSpan.FromTicks(report.Layers.Sum(t => t.Compute.Ticks));
        var waited = TimeSpan.FromTicks(report.Layers.Sum(t => t.OnloadWait.Ticks));
        Console.Error.WriteLine(string.Create(inv,
            $"layer-wise evaluation in {report.Wall.TotalSeconds:F1} s (from layer {report.FirstLayerRun}; compute {compute.TotalSeconds:F2} s, waited for parameters {waited.TotalSeconds:F2} s)"));
        return 0;
    }
}
