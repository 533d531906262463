using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Offload.Compression.Checkpoint;
using Offload.Coordinator.Dashboard;
using Offload.Coordinator.Demo;
using Offload.Coordinator.Job;
using Offload.Coordinator.Progress;
using Offload.Coordinator.Telemetry;
using Offload.DeviceActors;
using Offload.Model.Datasets;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Model.Synthetic;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>
/// `offload demo`: the embedded default. Synthesizes a small Llama model with outlier channels, compresses it through
/// the offloading runtime on two CPU virtual devices whose budget is smaller than the model (RTN W4A16, GPTQ W4A16 and
/// R1+R2 + GPTQ W4A16, each a full `offload compress` run), reloads every written checkpoint and prints the quality
/// table against the FP model on held-out windows. No network, no GPU.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var output = new Option<string?>("--out") { Description = "folder for the demo's model and checkpoints (default: <temp>/offload-demo, replaced)" };
        var layers = new Option<int>("--layers") { Description = "decoder layers of the synthetic model", DefaultValueFactory = _ => 6 };
        var cmd = new Command("demo",
            "The embedded default: synthesize a model with outlier channels, compress it (RTN W4A16, GPTQ W4A16, R1+R2 + GPTQ W4A16) over two virtual devices " +
            "whose budget is smaller than the model, reload each checkpoint and print the quality table.")
        {
            output, layers,
        };
        var progress = ProgressOption.Create();
        cmd.Options.Add(progress);
        TelemetrySession.AddOptions(cmd);
        var dashboard = DashboardCli.AddTo(cmd);
        cmd.WithExamples("offload demo", "offload demo --dashboard 127.0.0.1:8080", "offload demo --out ./demo --layers 8 --progress plain --metrics-out demo-metrics.jsonl");
        cmd.SetAction(parse =>
        {
            using var telemetry = TelemetrySession.Start(parse, inProcess: dashboard.Requested(parse));
            using var live = dashboard.Start(parse, telemetry, Console.Error);
            using var bars = ProgressOption.Start(parse, progress);
            return Run(parse.GetValue(output), parse.GetValue(layers), Console.Out, TextWriter.Null);
        });
        return cmd;
    }

    public static int Run(string? outDir, int layers, TextWriter stdout, TextWriter log)
    {
        var inv = CultureInfo.InvariantCulture;
        var wall = Stopwatch.StartNew();
        var root = Path.GetFullPath(outDir ?? Path.Combine(Path.GetTempPath(), "offload-demo"));
        var marker = Path.Combine(root, ".offload-demo");
        if (Directory.Exists(root))
        {
            if (!File.Exists(marker) && Directory.EnumerateFileSystemEntries(root).Any())
                throw new OffloadException($"{root}: exists and is not a demo folder; choose another --out");
            Directory.Delete(root, recursive: true);
        }
        Directory.CreateDirectory(root);
        File.WriteAllText(marker, "offload demo\n");

        // 1. the model: Llama, hidden 512, MLP 1024, GQA 8/4, 4 outlier channels, bf16.
        var model = Path.Combine(root, "model");
        var config = SyntheticCheckpoint.Write(model, new SynthOptions
        {
            Preset = "demo", Layers = layers, Hidden = 512, Intermediate = 1024, Heads = 8, KvHeads = 4, Vocab = 512,
            DType = DType.BF16, Seed = 11, Outliers = 4, MaxPositionEmbeddings = 512,
        });
        var modelBytes = new DirectoryInfo(model).GetFiles("*.safetensors").Sum(f => f.Length);
        var text = Path.Combine(root, "demo-text.txt");
        File.WriteAllText(text, DemoText.Generate(400, seed: 5));
        const int seq = 128, samples = 32, evalWindows = 16;
        var tokenizer = ModelLoader.LoadTokenizer(model, config);
        var stream = EvalProtocol.TokenStreamOfFile(text, tokenizer);
        var eval = EvalProtocol.FirstWindows(stream, seq, evalWindows);
        var calibration = CalibrationDataset.Load(text, () => tokenizer, config.VocabSize, samples, seq, DatasetSplit.Last).Tokens;
        const int batch = 2;
        // Each device: the largest part plus its forward workspace, with room for one prefetched layer — less than the model.
        long layerBytes;
        using (var checkpoint = SafetensorsCheckpoint.Open(model))
            layerBytes = checkpoint.Tensors.Where(t => t.Name.StartsWith("model.layers.0.", StringComparison.Ordinal)).Sum(t => t.ByteLength);
        var workspace = Math.Max(ForwardWorkspace.Decoder(config, DType.BF16, batch, seq), ForwardWorkspace.Head(config, DType.BF16, seq));
        var budget = 2 * layerBytes + workspace + (1L << 20);
        // Host memory for the activations between layers: a quarter of them; the rest spill to disk.
        var hostBudget = (long)samples * seq * config.HiddenSize * sizeof(float) / 4;
        if (budget >= modelBytes)
            throw new OffloadException($"demo: {layers} layers are too few for a device budget below the model size; use --layers ≥ 6");
        stdout.WriteLine(string.Create(inv,
            $"demo model: {layers} layers, hidden {config.HiddenSize}, MLP {config.IntermediateSize}, GQA {config.NumAttentionHeads}/{config.NumKeyValueHeads}, 4 outlier channels, bf16, {ByteSize.Format(modelBytes)}"));
        stdout.WriteLine(string.Create(inv,
            $"devices: cpu:0, cpu:1 with {ByteSize.Format(budget)} each; host activations {ByteSize.Format(hostBudget)} (the rest spills to disk); calibration {samples} × {seq} tokens (end of the text), evaluation {evalWindows} × {seq} (start)"));

        using var fp = ModelLoader.Load(model);
        var fpResult = PerplexityEvaluator.Evaluate(fp, eval, seq);
        var rows = new List<(string Name, double Ppl, double Kl, double Top1, double Seconds, string Peak)>
        {
            ("FP (bf16 weights)", fpResult.Perplexity, 0, 1, 0, "-"),
        };
        (string Name, string Folder, string Scheme, string Method, string? Rotations)[] runs =
        [
            ("RTN W4A16", "rtn-w4a16", "W4A16", "rtn", null),
            ("GPTQ W4A16", "gptq-w4a16", "W4A16", "gptq", null),
            ("R1+R2 + GPTQ W4A16", "r1r2-gptq-w4a16", "W4A16", "gptq", "R1,R2"),
        ];
        foreach (var (name, folder, scheme, method, rotations) in runs)
        {
            var sw = Stopwatch.StartNew();
            var outCheckpoint = Path.Combine(root, folder);
            var recipe = CompressCommand.ReadRecipe(null, scheme, method, rotations, "hadamard");
            var report = CompressJob.Run(new CompressOptions
            {
                ModelDir = model,
                OutDir = outCheckpoint,
                Recipe = recipe,
                Calibration = recipe.NeedsCalibration ? calibration : null,
                SeqLen = seq,
                BatchRows = batch,
                Devices = [new DeviceId(DeviceKind.Cpu, 0), new DeviceId(DeviceKind.Cpu, 1)],
                DeviceMemoryBytes = budget,
                HostMemoryBytes = hostBudget,
            }, log);
            using var checkpoint = CompressedCheckpoint.Open(outCheckpoint);
            using var q = checkpoint.LoadModel();
            var r = PerplexityEvaluator.Evaluate(q, eval, seq);
            var diff = LogitComparison.Compare(fp, q, eval, seq);
            var peak = report.Devices.Count == 0 ? "-" : string.Join(" / ", report.Devices.Select(d => ByteSize.Format(d.PeakBytes)));
            rows.Add((name, r.Perplexity, diff.MeanKl, diff.Top1Agreement, sw.Elapsed.TotalSeconds, peak));
            stdout.WriteLine(string.Create(inv, $"compressed {name} → {outCheckpoint} in {sw.Elapsed.TotalSeconds:F1} s"));
        }
        stdout.WriteLine();
        stdout.WriteLine("| configuration | perplexity | mean KL to FP | top-1 agreement | device peaks | seconds |");
        stdout.WriteLine("|---|---:|---:|---:|---|---:|");
        foreach (var row in rows)
            stdout.WriteLine(string.Create(inv, $"| {row.Name} | {row.Ppl:F3} | {row.Kl:G4} | {row.Top1 * 100:F2} % | {row.Peak} | {row.Seconds:F1} |"));
        stdout.WriteLine(string.Create(inv, $"demo done in {wall.Elapsed.TotalSeconds:F1} s; files in {root}"));
        return 0;
    }
}
