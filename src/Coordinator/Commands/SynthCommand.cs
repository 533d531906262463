using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Synthetic;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>`offload synth --out DIR [--preset P] [overrides]`: a seeded random Llama checkpoint, written streaming.</summary>
public static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "output folder (must not exist or be empty)", Required = true };
        var preset = new Option<string>("--preset")
        {
            Description = "shape preset: " + string.Join("; ", SynthPresets.Names.Select(n => $"{n} = {SynthPresets.Describe(n)}")),
            DefaultValueFactory = _ => "tiny",
        };
        var layers = new Option<int?>("--layers") { Description = "decoder layers" };
        var hidden = new Option<int?>("--hidden") { Description = "hidden size" };
        var intermediate = new Option<int?>("--intermediate") { Description = "MLP size" };
        var heads = new Option<int?>("--heads") { Description = "attention heads" };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "key/value heads (GQA)" };
        var headDim = new Option<int?>("--head-dim") { Description = "head dimension (default hidden / heads)" };
        var vocab = new Option<int?>("--vocab") { Description = "vocabulary size" };
        var dtype = new Option<string?>("--dtype") { Description = "float32, bfloat16 or float16" };
        var seed = new Option<long?>("--seed") { Description = "random seed" };
        var outliers = new Option<int?>("--outliers") { Description = "residual channels made --outlier-scale times larger (default 0)" };
        var outlierScale = new Option<double?>("--outlier-scale") { Description = "outlier channel magnitude relative to the rest (default 50)" };
        var massiveScale = new Option<double?>("--massive-scale") { Description = "extra factor on the outlier channels of the BOS token (default 10; 0 = none)" };
        var tie = new Option<bool?>("--tie") { Description = "tie lm_head to the embedding" };
        var arch = new Option<string?>("--arch") { Description = "llama, mistral, qwen2 (q/k/v biases) or qwen3 (per-head q/k norms)" };
        var cmd = new Command("synth",
            "Write a Hugging Face Llama checkpoint of seeded random weights (streaming, any size), optionally with outlier channels.")
        {
            output, preset, layers, hidden, intermediate, heads, kvHeads, headDim, vocab, dtype, seed, outliers, outlierScale, massiveScale, tie, arch,
        };
        cmd.WithExamples("offload synth --out ./tiny --preset tiny --outliers 4", "offload synth --out ./q3 --preset qwen3-tiny", "offload synth --out ./l3-2 --preset llama3-8b-layer --layers 2");
        cmd.SetAction(parse =>
        {
            var o = SynthPresets.Get(parse.GetValue(preset)!);
            o = o with
            {
                Layers = parse.GetValue(layers) ?? o.Layers,
                Hidden = parse.GetValue(hidden) ?? o.Hidden,
                Intermediate = parse.GetValue(intermediate) ?? o.Intermediate,
                Heads = parse.GetValue(heads) ?? o.Heads,
                KvHeads = parse.GetValue(kvHeads) ?? o.KvHeads,
                HeadDim = parse.GetValue(headDim) ?? o.HeadDim,
                Vocab = parse.GetValue(vocab) ?? o.Vocab,
                Seed = parse.GetValue(seed) ?? o.Seed,
                Outliers = parse.GetValue(outliers) ?? o.Outliers,
                OutlierScale = parse.GetValue(outlierScale) ?? o.OutlierScale,
                MassiveScale = parse.GetValue(massiveScale) ?? o.MassiveScale,
                TieEmbeddings = parse.GetValue(tie) ?? o.TieEmbeddings,
            };
            if (parse.GetValue(dtype) is { } dt)
            {
                if (!DTypeNames.TryParseTorchName(dt, out var d) || d is not (DType.F32 or DType.BF16 or DType.F16))
                    throw new ModelConfigException($"synth: --dtype {dt} is not supported (supported: float32, bfloat16, float16)");
                o = o with { DType = d };
            }
            if (parse.GetValue(arch) is { } a)
            {
                o = o with
                {
                    Architecture = a.ToLowerInvariant() switch
                    {
                        "llama" => ModelArchitecture.Llama,
                        "mistral" => ModelArchitecture.Mistral,
                        "qwen2" => ModelArchitecture.Qwen2,
                        "qwen3" => ModelArchitecture.Qwen3,
                        _ => throw new ModelConfigException($"synth: --arch {a} is not supported (supported: llama, mistral, qwen2, qwen3)"),
                    },
                };
            }
            var outDir = parse.GetValue(output)!;
            var sw = Stopwatch.StartNew();
            var config = SyntheticCheckpoint.Write(outDir, o, new Progress(sw));
            var bytes = new FileInfo(Path.Combine(outDir, "model.safetensors")).Length;
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine(string.Create(inv,
                $"synth {o.Preset}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, MLP {config.IntermediateSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads}×{config.HeadDim}, vocab {config.VocabSize}, {config.TorchDtype.ToTorchName()}, outliers {o.Outliers}"));
            Console.WriteLine(string.Create(inv, $"wrote {bytes / 1e6:F1} MB to {outDir} in {sw.Elapsed.TotalSeconds:F1} s"));
            return 0;
        });
        return cmd;
    }

    private sealed class Progress(Stopwatch sw) : IProgress<(string Tensor, long BytesWritten, long BytesTotal)>
    {
        private TimeSpan _last;

        public void Report((string Tensor, long BytesWritten, long BytesTotal) value)
        {
            if (sw.Elapsed - _last < TimeSpan.FromSeconds(2)) return;
            _last = sw.Elapsed;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {value.BytesWritten / 1e9:F2} / {value.BytesTotal / 1e9:F2} GB  {value.Tensor}"));
        }
    }
}
