using System.CommandLine;
using System.Globalization;
using Offload.Compression.Gptq;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Tokenizers;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>`offload quality --model DIR --text FILE`: the quantization quality table (FP, RTN/GPTQ W4A16, W4A4, W8A8).</summary>
public static class QualityCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder", Required = true };
        var text = new Option<string>("--text") { Description = "UTF-8 text; the protocol's token stream of the whole file", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Hugging Face tokenizer.json or llama2.c tokenizer.bin (default: the one in the model folder)" };
        var seqLen = new Option<int>("--seq-len") { Description = "tokens per window", DefaultValueFactory = _ => EvalProtocol.DefaultSeqLen };
        var windows = new Option<int>("--windows") { Description = "evaluated windows (the first of the stream)", DefaultValueFactory = _ => EvalProtocol.DefaultWindows };
        var calib = new Option<int>("--calib-windows") { Description = "calibration windows (the last of the stream)", DefaultValueFactory = _ => 64 };
        var cmd = new Command("quality",
            "Quantization quality table: perplexity, mean KL to FP and top-1 agreement for FP, RTN/GPTQ W4A16 (int4 channel), W4A4, R1+R2+R4 + GPTQ W4A4 and W8A8.\n" +
            "GPTQ calibrates on the last --calib-windows windows of the stream; the first --windows windows are evaluated.")
        {
            model, text, tokenizer, seqLen, windows, calib,
        };
        cmd.WithExamples("offload quality --model ./stories260K --text tinystories_valid_head.txt",
            "offload quality --model ./synth --tokenizer tok512.bin --text tinystories_valid_head.txt --windows 8 --calib-windows 8");
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(model)!;
            using var lm = ModelLoader.Load(dir);
            var s = parse.GetValue(seqLen);
            if (s < 2 || s > lm.Config.MaxPositionEmbeddings) throw new OffloadException($"--seq-len {s}: must be between 2 and max_position_embeddings ({lm.Config.MaxPositionEmbeddings})");
            ITokenizer tok = parse.GetValue(tokenizer) is { } t
                ? t.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? HfTokenizer.Load(t) : Llama2cTokenizer.Load(t)
                : ModelLoader.LoadTokenizer(dir, lm.Config);
            var stream = EvalProtocol.TokenStreamOfFile(parse.GetValue(text)!, tok);
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv, $"model {Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/'))}: {lm.Config.NumHiddenLayers} layers, hidden {lm.Config.HiddenSize}; " +
                $"eval first {parse.GetValue(windows)} × {s}, calibration last {parse.GetValue(calib)} × {s} of {EvalProtocol.WindowCount(stream.Length, s)} windows"));
            Console.WriteLine("| configuration | perplexity | mean NLL | mean KL to FP | top-1 agreement | seconds |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|");
            QualityTable.Run(lm, stream, s, parse.GetValue(windows), parse.GetValue(calib), modelDir: dir, report: r =>
                Console.WriteLine(string.Create(inv, $"| {r.Name} | {r.Perplexity:F4} | {r.MeanNll:F5} | {r.MeanKl:G4} | {r.Top1Agreement * 100:F2} % | {r.Seconds:F1} |{(r.Note is null ? "" : " " + r.Note)}")));
            return 0;
        });
        return cmd;
    }
}
