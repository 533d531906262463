using System.CommandLine;
using System.Globalization;
using Offload.Compression.Fusion;
using Offload.Compression.Recipes;
using Offload.Coordinator.Planning;
using Offload.DeviceActors;
using Offload.Model.Config;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>
/// `offload plan`: the binding-time fusion plan (offline vs online) of a recipe's rotations and a LoRA adapter, and with
/// --device-memory the preflight of a layer-wise run (<see cref="ResidencyPlanner"/>): per-part bytes on device and
/// host, each device's predicted peak, host activations, an estimated time; it fails fast when a part cannot fit.
/// </summary>
public static class PlanCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model directory (config.json)", Required = true };
        var recipe = new Option<string?>("--recipe") { Description = "recipe YAML; its SpinQuantModifier rotations are planned" };
        var lora = new Option<string?>("--lora") { Description = "PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors)" };
        var merge = new Option<bool>("--merge-lora") { Description = "merge the adapter into the weights (offline) instead of applying it per token" };
        var devices = new Option<string?>("--devices") { Description = "preflight: devices of the run, e.g. cpu:0,cpu:1 (default cpu:0)" };
        var deviceMemory = new Option<string?>("--device-memory") { Description = "preflight: memory budget per device, e.g. 64MiB (turns the preflight on)" };
        var hostMemory = new Option<string?>("--host-memory") { Description = "preflight: host memory for activations between layers (default: no limit)" };
        var seqLen = new Option<int>("--seq-len") { Description = "preflight: tokens per sample", DefaultValueFactory = _ => 512 };
        var samples = new Option<int>("--samples") { Description = "preflight: samples (calibration samples or eval windows)", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "preflight: samples per batch", DefaultValueFactory = _ => 8 };
        var prefetch = new Option<int>("--prefetch-depth") { Description = "preflight: layers onloaded ahead of the computing one", DefaultValueFactory = _ => 1 };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "preflight: host→device bandwidth per second for the time estimate, e.g. 2GiB (default: transfers are free)" };
        var passes = new Option<int>("--passes") { Description = "preflight: forward passes per layer in the time estimate (eval 1; compress with propagation 2)", DefaultValueFactory = _ => 1 };
        var propagation = new Option<bool>("--propagation") { Description = "preflight: every layer is onloaded again for a propagation pass (compress)" };
        var gflops = new Option<double?>("--gflops") { Description = "preflight: f32 GEMM rate for the time estimate (default: measured for 0.5 s at the layer's MLP shape)" };
        var cmd = new Command("plan",
            "Print which transforms and adapters are fused offline and which run online, with the operations each online one adds per token.\n" +
            "With --device-memory: the preflight of a layer-wise run — per-layer bytes on device and host, each device's predicted peak, " +
            "host activations and an estimated time; exit 2 before any work when a layer plus its forward workspace cannot fit.")
        {
            model, recipe, lora, merge, devices, deviceMemory, hostMemory, seqLen, samples, batch, prefetch, bandwidth, passes, propagation, gflops,
        };
        cmd.WithExamples(
            "offload plan --model ./m --recipe r.yaml --lora ./adapter --merge-lora",
            "offload plan --model ./stories260K --devices cpu:0,cpu:1 --device-memory 1MiB --seq-len 256 --samples 16 --batch 2",
            "offload plan --model ./l3-2 --devices cpu:0 --device-memory 1200MiB --host-memory 4GiB --seq-len 512 --samples 64 --prefetch-depth 2");
        cmd.SetAction(parse =>
        {
            var dir = parse.GetValue(model)!;
            // Planning a recipe's compression of a checkpoint that is compressed already is refused, as compress refuses it.
            if (parse.GetValue(recipe) is not null) Job.OutputFolder.RefuseCompressed(dir);
            // Parse the preflight's options before reading anything: a bad option is a one-line usage error.
            ResidencyPlanRequest? request = null;
            if (parse.GetValue(deviceMemory) is { } memoryText)
            {
                request = new ResidencyPlanRequest
                {
                    ModelDir = dir,
                    SeqLen = parse.GetValue(seqLen),
                    Samples = parse.GetValue(samples),
                    BatchRows = parse.GetValue(batch),
                    Devices = DeviceList.Parse(parse.GetValue(devices) ?? "cpu:0"),
                    DeviceMemoryBytes = ByteSize.Parse(memoryText, "--device-memory"),
                    HostMemoryBytes = parse.GetValue(hostMemory) is { } hm ? ByteSize.Parse(hm, "--host-memory") : null,
                    PrefetchDepth = parse.GetValue(prefetch),
                    PropagationPass = parse.GetValue(propagation),
                    BandwidthBytesPerSecond = parse.GetValue(bandwidth) is { } bw ? ByteSize.Parse(bw.Replace("/s", "", StringComparison.Ordinal), "--bandwidth") : null,
                };
                if (parse.GetValue(passes) < 1) throw new OffloadException($"--passes {parse.GetValue(passes)}: must be ≥ 1");
                if (parse.GetValue(gflops) is { } g && !(g > 0)) throw new OffloadException($"--gflops {g}: must be > 0");
            }
            else if (parse.GetValue(devices) is not null || parse.GetValue(hostMemory) is not null)
            {
                throw new OffloadException("the preflight needs --device-memory (e.g. --device-memory 64MiB) besides --devices/--host-memory");
            }

            var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"model {dir}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, MLP {config.IntermediateSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads}, head_dim {config.HeadDim}"));
            var recipePath = parse.GetValue(recipe);
            var loraDir = parse.GetValue(lora);
            if (recipePath is not null || loraDir is not null || request is null) PrintFusionPlan(config, recipePath, loraDir, parse.GetValue(merge));
            if (request is not null)
            {
                var plan = ResidencyPlanner.Plan(request);
                var rate = parse.GetValue(gflops) ?? GemmRate.ForLayer(plan.Config, Math.Min(request.BatchRows, request.Samples), request.SeqLen);
                PrintPreflight(Console.Out, request, plan, rate, parse.GetValue(passes), measured: parse.GetValue(gflops) is null);
            }
            return CliRunner.Success;
        });
        return cmd;
    }

    private static void PrintFusionPlan(LlamaConfig config, string? recipePath, string? loraDir, bool merge)
    {
        SpinQuantModifierSpec? spin = null;
        if (recipePath is not null) spin = Recipe.Load(recipePath).Modifiers.OfType<SpinQuantModifierSpec>().FirstOrDefault();
        using var adapter = loraDir is null ? null : LoraAdapter.Load(loraDir);
        var entries = FusionPlanner.Plan(config, spin, adapter, merge);
        if (entries.Count == 0)
        {
            Console.WriteLine("nothing to plan: pass --recipe with a SpinQuantModifier and/or --lora, or --device-memory for the preflight");
            return;
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
    }

    /// <summary>The preflight tables: per part, per device, host, time.</summary>
    public static void PrintPreflight(TextWriter o, ResidencyPlanRequest r, ResidencyPlan plan, double gflops, int passes, bool measured)
    {
        var inv = CultureInfo.InvariantCulture;
        var used = plan.Devices.Count;
        o.WriteLine();
        o.WriteLine(string.Create(inv,
            $"preflight: {r.Samples} samples × {r.SeqLen} tokens in {plan.Batches} batches of ≤ {r.BatchRows} on {string.Join(",", r.Devices)}" +
            $"{(used < r.Devices.Count ? $" ({used} used: one batch per device at least)" : "")}, {ByteSize.Format(r.DeviceMemoryBytes)} per device, prefetch depth {r.PrefetchDepth}" +
            $"{(r.PropagationPass ? ", propagation pass" : "")}"));
        o.WriteLine(string.Create(inv,
            $"model {ByteSize.Format(plan.ModelBytes)} of parameters (memory-mapped on the host); forward workspace {ByteSize.Format(plan.WorkspaceBytes)} per device"));
        o.WriteLine();
        o.WriteLine($"{"part",-10} {"parameters",12} {"device peak",12} {"onloaded",12} {"host RAM",12} {"spilled",12}");
        foreach (var p in plan.Parts)
            o.WriteLine($"{p.Name,-10} {ByteSize.Format(p.ParameterBytes),12} {ByteSize.Format(p.DevicePeakBytes),12} {ByteSize.Format(p.OnloadedBytes),12} {ByteSize.Format(p.HostActivationBytes),12} {ByteSize.Format(p.SpilledBytes),12}");
        o.WriteLine("(device peak: most resident on one device while the part computes — workspace, the part, prefetched and cached parts; " +
                    "host RAM: activations held at the end of its step — every batch's input and output)");
        o.WriteLine();
        foreach (var d in plan.Devices)
            o.WriteLine(string.Create(inv,
                $"{d.Device}: predicted peak {ByteSize.Format(d.PeakBytes)} ({d.PeakBytes} bytes) of {ByteSize.Format(d.BudgetBytes)}, {ByteSize.Format(d.TransferredBytes)} onloaded, {d.Evictions} evictions"));
        o.WriteLine(string.Create(inv,
            $"host: activations peak {ByteSize.Format(plan.HostActivationPeakBytes)} ({plan.HostActivationPeakBytes} bytes) in RAM, {ByteSize.Format(plan.SpilledBytes)} spilled" +
            $"{(r.HostMemoryBytes is { } h ? $" (budget {ByteSize.Format(h)})" : " (no budget)")}"));
        var time = plan.EstimateTime(gflops, r.BandwidthBytesPerSecond, r.PrefetchDepth, passes);
        o.WriteLine(string.Create(inv,
            $"time: ≈ {Progress.ProgressText.Duration(time)} — {plan.ForwardFlops / 1e9:F2} GFLOP per forward pass × {passes} at {gflops:F1} GFLOP/s ({(measured ? $"f32 GEMM measured at the layer's MLP shape, {Math.Min(r.BatchRows, r.Samples) * r.SeqLen}×{plan.Config.HiddenSize}·{plan.Config.HiddenSize}×{plan.Config.IntermediateSize}" : "--gflops")})" +
            $"{(r.BandwidthBytesPerSecond is { } bw ? $", onloads at {ByteSize.Format((long)bw)}/s {(r.PrefetchDepth > 0 ? "overlapped" : "added")}" : ", transfers not counted")}"));
    }
}
