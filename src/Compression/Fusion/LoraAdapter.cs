using System.Globalization;
using System.Text.Json;
using Offload.Model.SafeTensors;

namespace Offload.Compression.Fusion;

/// <summary>
/// A LoRA adapter in the PEFT layout: adapter_config.json (r, lora_alpha, target_modules, use_rslora) and
/// adapter_model.safetensors with base_model.model.&lt;module&gt;.lora_A.weight [r, in] and .lora_B.weight [out, r].
/// The update of a linear is ΔW = scale·B·A with scale = alpha/r (alpha/√r with use_rslora).
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    private const string Prefix = "base_model.model.";

    private LoraAdapter(string directory, int rank, double alpha, bool rsLora, IReadOnlyList<string> targets, IReadOnlyList<LoraModule> modules)
    {
        Directory = directory;
        Rank = rank;
        Alpha = alpha;
        RsLora = rsLora;
        TargetModules = targets;
        Modules = modules;
    }

    public string Directory { get; }
    public int Rank { get; }
    public double Alpha { get; }
    public bool RsLora { get; }
    public IReadOnlyList<string> TargetModules { get; }

    /// <summary>The adapted linears, ordered by module name.</summary>
    public IReadOnlyList<LoraModule> Modules { get; }

    /// <summary>alpha/r, or alpha/√r for rank-stabilised LoRA.</summary>
    public double Scale => RsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    /// <summary>Reads the adapter in <paramref name="dir"/>; <see cref="LoraException"/> for a missing or inconsistent file.</summary>
    public static LoraAdapter Load(string dir)
    {
        var configPath = Path.Combine(dir, ConfigFile);
        var weightsPath = Path.Combine(dir, WeightsFile);
        if (!File.Exists(configPath)) throw new LoraException($"{configPath}: not found; pass the directory of a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors)");
        if (!File.Exists(weightsPath)) throw new LoraException($"{weightsPath}: not found; save the adapter with safe_serialization=True");
        int rank;
        double alpha;
        bool rs;
        var targets = new List<string>();
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
            var root = doc.RootElement;
            if (root.TryGetProperty("peft_type", out var pt) && pt.ValueKind == JsonValueKind.String && pt.GetString() != "LORA")
                throw new LoraException($"{configPath}: peft_type {pt.GetString()} is not LORA; only LoRA adapters can be merged");
            rank = root.TryGetProperty("r", out var r) ? r.GetInt32() : throw new LoraException($"{configPath}: no 'r'; add the adapter rank");
            alpha = root.TryGetProperty("lora_alpha", out var a) ? a.GetDouble() : rank;
            rs = root.TryGetProperty("use_rslora", out var u) && u.ValueKind == JsonValueKind.True;
            if (root.TryGetProperty("target_modules", out var t))
            {
                if (t.ValueKind == JsonValueKind.Array) foreach (var e in t.EnumerateArray()) targets.Add(e.GetString() ?? "");
                else if (t.ValueKind == JsonValueKind.String) targets.Add(t.GetString() ?? "");
            }
        }
        catch (JsonException e)
        {
            throw new LoraException($"{configPath}: invalid JSON ({e.Message.Split('\n')[0]}); fix the file");
        }
        if (rank <= 0) throw new LoraException($"{configPath}: r = {rank.ToString(CultureInfo.InvariantCulture)} must be positive");
        var modules = new List<LoraModule>();
        try
        {
            using var file = SafetensorsFile.Open(weightsPath);
            var names = file.Tensors.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var name in names.Order(StringComparer.Ordinal))
            {
                if (!name.EndsWith(".lora_A.weight", StringComparison.Ordinal)) continue;
                var stem = name[..^".lora_A.weight".Length];
                var bName = stem + ".lora_B.weight";
                if (!names.Contains(bName)) throw new LoraException($"{weightsPath}: '{name}' has no matching '{bName}'; re-save the adapter");
                var module = stem.StartsWith(Prefix, StringComparison.Ordinal) ? stem[Prefix.Length..] : stem;
                using var av = file.Get(name);
                using var bv = file.Get(bName);
                var lm = new LoraModule(module, av.Clone(), bv.Clone());
                modules.Add(lm);
                if (av.Rank != 2 || bv.Rank != 2 || lm.Rank != rank || bv.Dim(1) != rank)
                    throw new LoraException($"{weightsPath}: '{module}' has A {Shape(av)} and B {Shape(bv)}, expected A [{rank}, in] and B [out, {rank}] (r from {ConfigFile}); fix r or re-save the adapter");
            }
            if (modules.Count == 0) throw new LoraException($"{weightsPath}: no '*.lora_A.weight' tensors; is this a LoRA adapter?");
        }
        catch
        {
            foreach (var m in modules) { m.A.Dispose(); m.B.Dispose(); }
            throw;
        }
        return new LoraAdapter(dir, rank, alpha, rs, targets, modules);
    }

    private static string Shape(Offload.Tensors.Tensor t) => "[" + string.Join(", ", t.Shape.ToArray()) + "]";

    public void Dispose()
    {
        foreach (var m in Modules)
        {
            m.A.Dispose();
            m.B.Dispose();
        }
    }
}
