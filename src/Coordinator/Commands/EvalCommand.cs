using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Offload.Coordinator.Dashboard;
using Offload.Coordinator.Telemetry;
using Offload.Model.Evaluation;
using Offload.Compression.Checkpoint;
using Offload.Compression.SpinQuant;
using Offload.Model.Loading;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>`offload eval --model DIR --text FILE --seq-len 512 --windows 64`: mean NLL and perplexity under the protocol.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder with a tokenizer.bin", Required = true };
        var text = new Option<string>("--text") { Description = "UTF-8 text; split at blank lines, each part encoded with BOS", Required = true };
        var seqLen = new Option<int>("--seq-len") { Description = "tokens per window", DefaultValueFactory = _ => EvalProtocol.DefaultSeqLen };
        var windows = new Option<int>("--windows") { Description = "number of windows", DefaultValueFactory = _ => EvalProtocol.DefaultWindows };
        var last = new Option<bool>("--last") { Description = "score the last windows of the stream (the calibration set) instead of the first" };
        var batch = new Option<int>("--batch") { Description = "windows per forward", DefaultValueFactory = _ => 8 };
        var runtime = new LayerwiseEvalCli();
        var clusterRun = new ClusterEvalCli();
        var cmd = new Command("eval",
            "Mean token NLL (nats/token) and perplexity over consecutive windows of the text's token stream; each window scores positions 1..seq-len-1.\n" +
            "Layer-wise through the offloading runtime: add --devices cpu:0,cpu:1 --device-memory 64MiB [--out DIR [--resume]] [--progress plain]\n" +
            "Decoder layers on the nodes of a cluster: add --cluster FILE (cluster-config/README.md)\n" +
            "Telemetry: --metrics-out metrics.jsonl; OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (e.g. http://127.0.0.1:4318)\n" +
            "Live dashboard of a layer-wise run: add --dashboard 127.0.0.1:8080 and open the printed URL")
        {
            model, text, seqLen, windows, last, batch,
        };
        cmd.WithExamples("offload eval --model ./stories260K --text tinystories_valid_head.txt --seq-len 512 --windows 64",
            "offload eval --model ./synth --text tinystories_valid_head.txt --seq-len 128 --windows 8 --devices cpu:0,cpu:1 --device-memory 2MiB --progress plain",
            "offload eval --model ./stories260K --text tinystories_valid_head.txt --seq-len 128 --windows 16 --device-memory 64MiB --cluster cluster-config/local-3node.yaml --out ./eval");
        foreach (var o in runtime.All) cmd.Options.Add(o);
        cmd.Options.Add(clusterRun.Cluster);
        TelemetrySession.AddOptions(cmd);
        var dashboard = DashboardCli.AddTo(cmd);
        cmd.SetAction(parse =>
        {
            var s = parse.GetValue(seqLen);
            var w = parse.GetValue(windows);
            var b = parse.GetValue(batch);
            if (s < 2) throw new OffloadException($"--seq-len {s}: must be ≥ 2");
            if (w < 1) throw new OffloadException($"--windows {w}: must be ≥ 1");
            if (b < 1) throw new OffloadException($"--batch {b}: must be ≥ 1");
            if (dashboard.Requested(parse) && !runtime.Requested(parse))
                throw new OffloadException("--dashboard follows a layer-wise job: add --device-memory (and --devices) to run eval through the runtime");
            using var telemetry = TelemetrySession.Start(parse, inProcess: dashboard.Requested(parse));
            using var live = dashboard.Start(parse, telemetry, Console.Error);
            var dir = parse.GetValue(model)!;
            // NaN or ±Inf in any weight is refused before any work (every tensor byte read once).
            if (Directory.Exists(dir) && File.Exists(Path.Combine(dir, Offload.Model.Config.LlamaConfig.FileName)))
            {
                Offload.Model.Config.LlamaConfig.Load(Path.Combine(dir, Offload.Model.Config.LlamaConfig.FileName));
                ModelLoader.CheckFinite(dir);
            }
            if (runtime.Requested(parse) || clusterRun.Requested(parse))
            {
                // Where the journal goes is refused before the text is read (and before the folder exists).
                if (parse.GetValue(runtime.Out) is { } journalOut) Job.OutputFolder.Check(journalOut);
                if (CompressedCheckpoint.IsCompressed(dir))
                    throw new OffloadException($"{dir}: a compressed-tensors checkpoint is evaluated resident (dequantized); drop --devices/--device-memory/--out");
                var cfg = Offload.Model.Config.LlamaConfig.Load(Path.Combine(dir, Offload.Model.Config.LlamaConfig.FileName));
                var tok = ModelLoader.LoadTokenizer(dir, cfg);
                var all = EvalProtocol.TokenStreamOfFile(parse.GetValue(text)!, tok);
                var fromEnd = parse.GetValue(last);
                var selected = fromEnd ? EvalProtocol.LastWindows(all, s, w) : EvalProtocol.FirstWindows(all, s, w);
                var description = $"eval {(fromEnd ? "last" : "first")} {w} windows";
                if (clusterRun.Requested(parse)) return clusterRun.Run(parse, runtime, dir, selected, s, b, description);
                return runtime.Run(parse, dir, selected, s, b, description);
            }
            // A compressed-tensors checkpoint (e.g. written by `offload compress`) is dequantized, with its dynamic
            // activation quantization and its online transforms (SpinQuant R3/R4) applied as vLLM would.
            using var compressed = CompressedCheckpoint.IsCompressed(dir) ? CompressedCheckpoint.Open(dir) : null;
            using var lm = compressed is null ? ModelLoader.Load(dir)
                : compressed.LoadModel(SpinQuantOnlineLoader.For(compressed) is { } online ? [online] : null);
            if (s > lm.Config.MaxPositionEmbeddings)
                throw new OffloadException($"--seq-len {s} exceeds the model's max_position_embeddings ({lm.Config.MaxPositionEmbeddings})");
            var tokenizer = ModelLoader.LoadTokenizer(dir, lm.Config);
            var textPath = parse.GetValue(text)!;
            var stream = EvalProtocol.TokenStreamOfFile(textPath, tokenizer);
            var useLast = parse.GetValue(last);
            var tokens = useLast ? EvalProtocol.LastWindows(stream, s, w) : EvalProtocol.FirstWindows(stream, s, w);
            var sw = Stopwatch.StartNew();
            var result = PerplexityEvaluator.Evaluate(lm, tokens, s, b);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"windows     {w} × {s} tokens ({(useLast ? "last" : "first")} of {EvalProtocol.WindowCount(stream.Length, s)} in a stream of {stream.Length} tokens)"));
            Console.WriteLine(string.Create(inv, $"scored      {result.Tokens} tokens"));
            Console.WriteLine(string.Create(inv, $"mean NLL    {result.MeanNll:F6} nats/token"));
            Console.WriteLine(string.Create(inv, $"perplexity  {result.Perplexity:F4}"));
            Console.Error.WriteLine(string.Create(inv, $"evaluated in {sw.Elapsed.TotalSeconds:F1} s ({result.Tokens / Math.Max(sw.Elapsed.TotalSeconds, 1e-9):F0} tokens/s)"));
            return 0;
        });
        return cmd;
    }
}
