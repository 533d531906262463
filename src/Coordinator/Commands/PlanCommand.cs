using System.CommandLine;
using System.Globalization;
using Offload.Compression.Fusion;
using Offload.Compression.Recipes;
using Offload.Model.Config;

namespace Offload.Coordinator.Commands;

/// <summary>`offload plan`: the binding-time fusion plan (offline vs online) of a recipe's rotations and a LoRA adapter.</summary>
public static class PlanCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model directory (config.json)", Required = true };
        var recipe = new Option<string?>("--recipe") { Description = "recipe YAML; its SpinQuantModifier rotations are planned" };
        var lora = new Option<string?>("--lora") { Description = "PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors)" };
        var merge = new Option<bool>("--merge-lora") { Description = "merge the adapter into the weights (offline) instead of applying it per token" };
        var cmd = new Command("plan", "Print which transforms and adapters are fused offline and which run online, with the operations each online one adds per token.")
        {
            model, recipe, lora, merge,
        };
        cmd.WithExamples("offload plan --model ./m --recipe r.yaml --lora ./adapter --merge-lora");
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(model)!;
            var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
            var recipePath = parse.GetValue(recipe);
            SpinQuantModifierSpec? spin = null;
            if (recipePath is not null) spin = Recipe.Load(recipePath).Modifiers.OfType<SpinQuantModifierSpec>().FirstOrDefault();
            var loraDir = parse.GetValue(lora);
            using var adapter = loraDir is null ? null : LoraAdapter.Load(loraDir);
            var entries = FusionPlanner.Plan(config, spin, adapter, parse.GetValue(merge));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model {dir}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, MLP {config.IntermediateSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads}, head_dim {config.HeadDim}"));
            if (entries.Count == 0)
            {
                Console.WriteLine("nothing to plan: pass --recipe with a SpinQuantModifier and/or --lora");
                return 0;
            }
            Console.WriteLine($"{"name",-40} {"binding",-8} {"adds/token",12} {"muls/token",12} {"MACs/token",12}  operation");
            long adds = 0, muls = 0, macs = 0;
            foreach (var e in entries)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{e.Name,-40} {e.Binding.ToString().ToLowerInvariant(),-8} {e.Adds,12} {e.Multiplies,12} {e.Macs,12}  {e.Operation}"));
                Console.WriteLine($"{"",-40} why: {e.Reason}");
                adds += e.Adds;
                muls += e.Multiplies;
                macs += e.Macs;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"online total per token",-40} {"",-8} {adds,12} {muls,12} {macs,12}"));
            return 0;
        });
        return cmd;
    }
}
