using System.Numerics;
using Offload.Compression.Recipes;
using Offload.Model.Config;
using Offload.Transforms.Config;

namespace Offload.Compression.Fusion;

/// <summary>
/// Decides, for every transform of a SpinQuant recipe and every LoRA adapter, from <em>when its operands are known</em>:
/// all known before the run (weights, fixed matrices) → fused offline, zero runtime cost; one operand is an activation
/// produced at run time behind a non-linear or position-dependent step → an online hook, with the operations it adds
/// per token. A size-n rotation online costs n·log2(n) adds + n multiplies by FWHT when n is a power of two and the
/// type is a Hadamard, else n² multiply-adds (dense).
/// </summary>
public static class FusionPlanner
{
    /// <summary>The plan for a model of <paramref name="config"/>; <paramref name="spin"/> and <paramref name="lora"/> may be null.</summary>
    public static IReadOnlyList<PlanEntry> Plan(LlamaConfig config, SpinQuantModifierSpec? spin, LoraAdapter? lora, bool mergeLora)
    {
        var entries = new List<PlanEntry>();
        if (lora is not null)
        {
            foreach (var m in lora.Modules)
                entries.Add(LoraEntry(m.Module, m.Out, m.In, lora.Rank, mergeLora, layers: 1));
        }
        if (spin is not null)
        {
            var layers = config.NumHiddenLayers;
            var type = spin.TransformType;
            foreach (var r in spin.Rotations.Order(StringComparer.Ordinal))
            {
                switch (r)
                {
                    case "R1":
                        entries.Add(new PlanEntry("R1", "embed_tokens, o_proj, down_proj outputs; q/k/v/gate/up/lm_head inputs", Binding.Offline,
                            "both sides of every product are weights (RMSNorm commutes with an orthogonal map once the norm weight is folded)", 0, 0, 0, "none (fused)"));
                        break;
                    case "R2":
                        entries.Add(new PlanEntry("R2", "v_proj output, o_proj input (per head)", Binding.Offline,
                            "attention's weighted sum over tokens commutes with a per-head map; both operands are weights", 0, 0, 0, "none (fused)"));
                        break;
                    case "R3":
                    {
                        var n = config.HeadDim;
                        var heads = (long)config.NumAttentionHeads + config.NumKeyValueHeads;
                        var (adds, muls, macs, op) = RotationCost(type, n, heads, layers);
                        entries.Add(new PlanEntry("R3", "q and k after RoPE (every self_attn)", Binding.Online,
                            "RoPE depends on the token position, known only at run time, and does not commute with the rotation",
                            adds, muls, macs, $"{op} on {config.NumAttentionHeads} q + {config.NumKeyValueHeads} k heads × {layers} layers"));
                        break;
                    }
                    case "R4":
                    {
                        var n = spin.TransformBlockSize ?? config.IntermediateSize;
                        var blocks = (long)config.IntermediateSize / n;
                        var (adds, muls, macs, op) = RotationCost(type, n, blocks, layers);
                        entries.Add(new PlanEntry("R4", "down_proj input (online half; the inverse half is fused into down_proj)", Binding.Online,
                            "its input is act(gate)·up, an element-wise non-linear product of activations",
                            adds, muls, macs, $"{op} on {blocks} block(s) × {layers} layers"));
                        break;
                    }
                }
            }
        }
        return entries;
    }

    /// <summary>
    /// A LoRA adapter on an [m = out, n = in] linear with rank r: merged, (W + B·A)·x costs m·n MACs per token (the
    /// merge itself m·n·r MACs once, offline); unmerged, W·x + B·(A·x) costs m·n + r·(m + n) MACs, so the online
    /// choice adds r·(m + n) per token per layer it appears in.
    /// </summary>
    public static PlanEntry LoraEntry(string module, int m, int n, int r, bool merged, int layers)
    {
        var extra = (long)r * (m + n) * layers;
        return merged
            ? new PlanEntry($"lora {module}", $"[{m}, {n}] r={r}", Binding.Offline,
                "A, B and W are all weights: W' = W + (alpha/r)·B·A before rotation and quantization", 0, 0, 0,
                $"(W+B·A)·x = {(long)m * n} MACs/token; merge {(long)m * n * r} MACs once")
            : new PlanEntry($"lora {module}", $"[{m}, {n}] r={r}", Binding.Online,
                "kept unmerged (no --merge-lora): the adapter is applied to the activation at run time", 0, 0, extra,
                $"W·x + B·(A·x) = {(long)m * n} + {extra} MACs/token");
    }

    /// <summary>Per-token cost of rotating <paramref name="count"/> vectors of size n in each of <paramref name="layers"/> layers.</summary>
    public static (long Adds, long Multiplies, long Macs, string Operation) RotationCost(TransformType type, int n, long count, int layers)
    {
        var total = count * layers;
        if (type.IsHadamard() && BitOperations.IsPow2(n))
        {
            var log = BitOperations.Log2((uint)n);
            return (total * n * log, total * n, 0, $"FWHT n={n} ({n}·log2 {n} adds + {n} scale)");
        }
        return (0, 0, total * n * n, $"dense n={n} ({n}² MACs)");
    }
}
