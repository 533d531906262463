using System.CommandLine;
using System.Diagnostics;
using Offload.Model;
using Offload.Model.Import;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>`offload import-llama2c MODEL.bin --tokenizer TOK.bin --out DIR`: a llama2.c model as a Hugging Face folder.</summary>
public static class ImportLlama2cCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL.bin") { Description = "llama2.c checkpoint (legacy 7-int header or version 1 \"ak42\")" };
        var tokenizer = new Option<string>("--tokenizer") { Description = "the model's llama2.c tokenizer.bin", Required = true };
        var output = new Option<string>("--out") { Description = "output folder (must not exist or be empty)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "stored dtype: float32, bfloat16 or float16", DefaultValueFactory = _ => "float32" };
        var cmd = new Command("import-llama2c",
            "Convert a llama2.c model and tokenizer into a Hugging Face Llama folder (config.json, model.safetensors, tokenizer.bin).")
        {
            model, tokenizer, output, dtype,
        };
        cmd.WithExamples("offload import-llama2c stories260K.bin --tokenizer tok512.bin --out ./stories260K");
        cmd.SetAction(parse =>
        {
            var dtypeName = parse.GetValue(dtype)!;
            if (!DTypeNames.TryParseTorchName(dtypeName, out var dt))
                throw new CheckpointException($"--dtype {dtypeName}: not a dtype (use float32, bfloat16 or float16)");
            var sw = Stopwatch.StartNew();
            var outDir = parse.GetValue(output)!;
            var config = Llama2cImporter.Import(parse.GetValue(model)!, parse.GetValue(tokenizer), outDir, dt);
            Console.WriteLine($"imported {config.ArchitectureName}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads}, vocab {config.VocabSize}, {config.TorchDtype.ToTorchName()} → {outDir} ({sw.Elapsed.TotalSeconds:F1} s)");
            return 0;
        });
        return cmd;
    }
}
