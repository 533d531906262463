using System.CommandLine;
using System.Globalization;
using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Coordinator.Dashboard;
using Offload.Coordinator.Job;
using Offload.Coordinator.Progress;
using Offload.Coordinator.Telemetry;
using Offload.DeviceActors;
using Offload.Model.Config;
using Offload.Model.Datasets;
using Offload.Model.Loading;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>
/// `offload compress --model DIR (--recipe FILE | --scheme W4A16 [--rotations R1,R2,R4]) --dataset FILE --samples N
/// --seq-len T --devices cpu:0,cpu:1 --device-memory 8GiB --out DIR [--resume]`: rotate, calibrate and quantize layer by
/// layer through the offloading runtime, and write a compressed-tensors checkpoint (<see cref="CompressJob"/>).
/// </summary>
public static class CompressCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder (config.json + safetensors)", Required = true };
        var recipe = new Option<string?>("--recipe") { Description = "llm-compressor recipe (YAML): SpinQuantModifier, QuantizationModifier, GPTQModifier" };
        var scheme = new Option<string?>("--scheme") { Description = "instead of --recipe: a preset for every Linear but lm_head: int W{2..8}A16, W{2..7}A8, W{2..4}A4, W4A16_ASYM, W8A8; float FP8_DYNAMIC, FP8_BLOCK, NVFP4A16, MXFP4A16, MXFP4, MXFP8A16, MXFP8, W4AFP8" };
        var method = new Option<string>("--method") { Description = "with --scheme: gptq or rtn", DefaultValueFactory = _ => "gptq" };
        var rotations = new Option<string?>("--rotations") { Description = "with --scheme: SpinQuant rotations first, e.g. R1,R2,R4" };
        var transformType = new Option<string>("--transform-type") { Description = "with --rotations: hadamard, random-hadamard or random-orthogonal", DefaultValueFactory = _ => "hadamard" };
        var dataset = new Option<string?>("--dataset")
        {
            Description = "calibration data: plain UTF-8 text, JSON lines ({\"text\": …} or {\"input_ids\": […]}), a Parquet file with a text or input_ids column, " +
                "or a folder / pattern of Parquet shards (data/train-*.parquet); input_ids need no tokenizer",
        };
        var samples = new Option<int>("--samples") { Description = "calibration windows (llm-compressor's num_calibration_samples)", DefaultValueFactory = _ => 64 };
        var seqLen = new Option<int>("--seq-len") { Description = "tokens per calibration window, exactly: never padded (llm-compressor's max_seq_length)", DefaultValueFactory = _ => 512 };
        var split = new Option<string>("--dataset-split") { Description = "which windows: first, last, or random (distinct, seeded by --seed, in dataset order)", DefaultValueFactory = _ => "first" };
        var seed = new Option<ulong>("--seed") { Description = "seed of --dataset-split random (SplitMix64: the same windows on every machine)", DefaultValueFactory = _ => 42UL };
        var mode = new Option<string>("--dataset-mode")
        {
            Description = "concat: records concatenated and cut into seq-len windows (llm-compressor's concatenate_data=True); " +
                "records: one window per record truncated to seq-len, shorter records dropped (never padded)",
            DefaultValueFactory = _ => "concat",
        };
        var batch = new Option<int>("--batch") { Description = "windows per batch (the unit sent to one device)", DefaultValueFactory = _ => 8 };
        var devices = new Option<string>("--devices") { Description = "devices, e.g. cpu:0,cpu:1 (CPU virtual devices); batches are split over them", DefaultValueFactory = _ => "cpu:0" };
        var deviceMemory = new Option<string>("--device-memory") { Description = "memory budget per device, e.g. 64MiB, 8GiB", DefaultValueFactory = _ => "4GiB" };
        var hostMemory = new Option<string?>("--host-memory") { Description = "host memory for activations between layers; beyond it batches spill to files" };
        var prefetch = new Option<int>("--prefetch-depth") { Description = "layers onloaded ahead of the computing one", DefaultValueFactory = _ => 1 };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "simulated host→device bandwidth per second (virtual devices)" };
        var output = new Option<string>("--out") { Description = "output checkpoint folder (must not exist or be empty)", Required = true };
        var resume = new Option<bool>("--resume") { Description = "continue the work folder (<out>.offload-work) of an interrupted run" };
        var noPropagate = new Option<bool>("--no-error-propagation") { Description = "feed the next layer the unquantized layer's outputs" };
        var progress = ProgressOption.Create();
        var clusterOption = new Option<string?>("--cluster") { Description = "run the calibration's layers on the nodes of this cluster file (see cluster-config/); paths must be shared by the nodes" };
        var cmd = new Command("compress",
            "Rotate (SpinQuant), calibrate (GPTQ) or round (RTN) layer by layer through the offloading runtime and write a compressed-tensors checkpoint vLLM loads.\n" +
            "Resumable: the state lives in <out>.offload-work until the checkpoint is renamed into place.\n" +
            "Calibration: " + CalibrationDataset.Semantics + ".")
        {
            model, recipe, scheme, method, rotations, transformType, dataset, samples, seqLen, split, seed, mode, batch, devices, deviceMemory, hostMemory, prefetch,
            bandwidth, output, resume, noPropagate, progress, clusterOption,
        };
        TelemetrySession.AddOptions(cmd);
        var dashboard = DashboardCli.AddTo(cmd);
        cmd.WithExamples(
            "offload compress --model ./stories260K --scheme W8A8 --rotations R1,R2,R4 --transform-type random-hadamard --dataset tinystories.txt --samples 64 --seq-len 256 --devices cpu:0,cpu:1 --device-memory 64MiB --out ./stories-w8a8",
            "offload compress --model ./Llama-3-8B --recipe recipe.yaml --dataset calib.jsonl --samples 128 --seq-len 2048 --device-memory 8GiB --out ./Llama-3-8B-W4A16",
            "offload compress --model ./Llama-3-8B --scheme W4A16 --dataset ./ultrachat/data/train_sft-*.parquet --dataset-split random --seed 42 --samples 512 --seq-len 2048 --out ./Llama-3-8B-W4A16");
        cmd.SetAction(parse =>
        {
            using var telemetry = TelemetrySession.Start(parse, inProcess: dashboard.Requested(parse));
            using var live = dashboard.Start(parse, telemetry, Console.Error);
            var dir = parse.GetValue(model)!;
            var compression = ReadRecipe(parse.GetValue(recipe), parse.GetValue(scheme), parse.GetValue(method)!, parse.GetValue(rotations), parse.GetValue(transformType)!);
            if (!File.Exists(Path.Combine(dir, LlamaConfig.FileName)))
                throw new OffloadException($"{dir}: no config.json; pass --model with a Hugging Face model folder");
            // Where the run writes, the model being unquantized, devices and budgets: refused before the data is read
            // (and before the work folder exists).
            var outDir = parse.GetValue(output)!;
            var workDir = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar) + ".offload-work";
            OutputFolder.Check(outDir, "--out", workDir);
            OutputFolder.RefuseCompressed(dir);
            var deviceIds = DeviceList.Parse(parse.GetValue(devices)!);
            var deviceBytes = ByteSize.Parse(parse.GetValue(deviceMemory)!, "--device-memory");
            long? hostBytes = parse.GetValue(hostMemory) is { } hm ? ByteSize.Parse(hm, "--host-memory") : null;
            double? bandwidthValue = parse.GetValue(bandwidth) is { } bw ? ByteSize.Parse(bw.Replace("/s", "", StringComparison.Ordinal), "--bandwidth") : null;
            var cluster = parse.GetValue(clusterOption) is { } clusterPath ? Cluster.ClusterFile.Load(clusterPath) : null;
            var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
            var seq = parse.GetValue(seqLen);
            if (seq < 2 || seq > config.MaxPositionEmbeddings)
                throw new OffloadException($"--seq-len {seq}: must be between 2 and the model's max_position_embeddings ({config.MaxPositionEmbeddings})");
            int[]? calibration = null;
            if (compression.NeedsCalibration)
            {
                var data = parse.GetValue(dataset) ?? throw new OffloadException("GPTQ and static input activations need calibration data: pass --dataset FILE (plain text, JSON lines or Parquet) and --samples N");
                var seedValue = parse.GetValue(seed);
                var set = CalibrationDataset.Load(data, () => ModelLoader.LoadTokenizer(dir, config), config.VocabSize, parse.GetValue(samples), seq,
                    CalibrationDataset.ParseSplit(parse.GetValue(split)!), seedValue, CalibrationDataset.ParseMode(parse.GetValue(mode)!));
                Console.Error.WriteLine(CalibrationWindows.Describe(set, seedValue));
                calibration = set.Tokens;
            }
            var options = new CompressOptions
            {
                ModelDir = dir,
                OutDir = outDir,
                Recipe = compression,
                Calibration = calibration,
                SeqLen = seq,
                BatchRows = parse.GetValue(batch),
                Devices = deviceIds,
                DeviceMemoryBytes = deviceBytes,
                HostMemoryBytes = hostBytes,
                PrefetchDepth = parse.GetValue(prefetch),
                BandwidthBytesPerSecond = bandwidthValue,
                Resume = parse.GetValue(resume),
                PropagateError = !parse.GetValue(noPropagate),
                Cluster = cluster,
            };
            CompressReport report;
            using (ProgressOption.Start(parse, progress))
                report = CompressJob.Run(options, Console.Error);
            Print(report);
            return 0;
        });
        return cmd;
    }

    /// <summary>The recipe file, or one built from --scheme / --method / --rotations.</summary>
    public static CompressionRecipe ReadRecipe(string? recipePath, string? scheme, string method, string? rotations, string transformType)
    {
        if (recipePath is not null && scheme is not null) throw new OffloadException("give --recipe or --scheme, not both");
        if (recipePath is not null)
        {
            if (!File.Exists(recipePath)) throw new OffloadException($"{recipePath}: recipe file not found");
            var text = File.ReadAllText(recipePath);
            return CompressionRecipe.From(Recipe.Parse(text, recipePath), text);
        }
        if (scheme is null) throw new OffloadException("give --recipe FILE or --scheme W4A16 (with --method gptq|rtn and optional --rotations R1,R2,R4)");
        var yaml = SchemeRecipe(scheme, method, rotations, transformType);
        return CompressionRecipe.From(Recipe.Parse(yaml, "--scheme"), yaml);
    }

    /// <summary>The recipe YAML the --scheme options stand for (printed by --help's examples and used as the job's identity).</summary>
    public static string SchemeRecipe(string scheme, string method, string? rotations, string transformType)
    {
        var modifier = method.ToLowerInvariant() switch
        {
            "gptq" => "GPTQModifier",
            "rtn" => "QuantizationModifier",
            _ => throw new OffloadException($"--method {method}: use gptq or rtn"),
        };
        var lines = new List<string> { "quant_stage:", "  quant_modifiers:" };
        if (!string.IsNullOrWhiteSpace(rotations))
        {
            var list = rotations.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            lines.Add($"    SpinQuantModifier: {{rotations: [{string.Join(", ", list)}], transform_type: {transformType}}}");
        }
        lines.Add($"    {modifier}: {{targets: [Linear], scheme: {scheme}, ignore: [lm_head]}}");
        return string.Join("\n", lines) + "\n";
    }

    private static void Print(CompressReport r)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"wrote {r.OutDir}: {r.Files.Count} files, {r.QuantizedLinears} quantized linears{(r.Rotated ? ", rotated" : "")}"));
        foreach (var f in r.Files) Console.WriteLine($"  {f}");
        Console.Error.WriteLine(string.Create(inv,
            $"rotation {r.RotationTime.TotalSeconds:F1} s, calibration {r.CalibrationTime.TotalSeconds:F1} s (from layer {r.FirstLayerRun}), write {r.WriteTime.TotalSeconds:F1} s, total {r.Wall.TotalSeconds:F1} s"));
        foreach (var d in r.Devices)
            Console.Error.WriteLine(string.Create(inv,
                $"{d.Device}: peak {ByteSize.Format(d.PeakBytes)} of {ByteSize.Format(d.BudgetBytes)}, transferred {ByteSize.Format(d.TransferredBytes)} in {d.Transfers} transfers, {d.Evictions} evictions"));
        if (r.GptqTimings.Count > 0)
        {
            // The calibration forward itself is in the layers' "calibrate" phase (the Hessians are captured inside it).
            double h = 0, s = 0;
            foreach (var t in r.GptqTimings.Values)
            {
                h += t.Hessian;
                s += t.Solve;
            }
            Console.Error.WriteLine(string.Create(inv, $"GPTQ: Hessian {h:F2} s, solve {s:F2} s over {r.GptqTimings.Count} layers"));
        }
    }
}
