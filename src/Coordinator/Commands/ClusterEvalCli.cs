using System.CommandLine;
using System.Globalization;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Job;
using Offload.DeviceActors;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>`offload eval … --cluster FILE`: the layer-wise evaluation submitted to the cluster's coordinator singleton,
/// its decoder layers run by the worker nodes (embedding and head on the coordinator's node; --device-memory is its budget
/// for them; --out is required and must be at the same path on the coordinator nodes; --resume as without a cluster).</summary>
public sealed class ClusterEvalCli
{
    public Option<string?> Cluster { get; } = new("--cluster") { Description = "run the decoder layers on the nodes of this cluster file (see cluster-config/)" };

    public bool Requested(ParseResult parse) => parse.GetValue(Cluster) is not null;

    public int Run(ParseResult parse, LayerwiseEvalCli runtime, string modelDir, int[] tokens, int seqLen, int batch, string description)
    {
        var file = ClusterFile.Load(parse.GetValue(Cluster)!);
        var options = new LayerwiseJobOptions
        {
            ModelDir = modelDir,
            SeqLen = seqLen,
            BatchRows = batch,
            DeviceMemoryBytes = parse.GetValue(runtime.DeviceMemory) is { } m ? ByteSize.Parse(m, "--device-memory") : 1L << 30,
            HostMemoryBytes = parse.GetValue(runtime.HostMemory) is { } hm ? ByteSize.Parse(hm, "--host-memory") : null,
            OutDir = parse.GetValue(runtime.Out),
            Resume = parse.GetValue(runtime.Resume),
            JobDescription = description,
        };
        if (parse.GetValue(runtime.Devices) is not null) throw new OffloadException("--devices does not apply with --cluster: the nodes' devices are in the cluster file");
        var report = ClusterJob.RunAsync(file, options, tokens, Console.Error).GetAwaiter().GetResult();
        var inv = CultureInfo.InvariantCulture;
        var result = report.Result!;
        Console.WriteLine(string.Create(inv, $"scored      {result.Tokens} tokens"));
        Console.WriteLine(string.Create(inv, $"mean NLL    {result.MeanNll:F6} nats/token"));
        Console.WriteLine(string.Create(inv, $"perplexity  {result.Perplexity:F4}"));
        var nodes = report.Layers.GroupBy(l => l.NodeId).Select(g => $"{g.Key}: {g.Count()}");
        Console.Error.WriteLine(string.Create(inv,
            $"cluster job {report.JobId}: layers per node {string.Join(", ", nodes)}; {report.Wall.TotalSeconds:F1} s (from layer {report.FirstLayerRun})"));
        return 0;
    }
}
