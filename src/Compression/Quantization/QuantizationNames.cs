using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>The compressed-tensors spellings of the quantization enums (the only place they are mapped) and their parsers.</summary>
public static class QuantizationNames
{
    public static string ToName(this QuantizationStrategy s) => s switch
    {
        QuantizationStrategy.Tensor => "tensor",
        QuantizationStrategy.Channel => "channel",
        QuantizationStrategy.Group => "group",
        QuantizationStrategy.Block => "block",
        QuantizationStrategy.Token => "token",
        QuantizationStrategy.TensorGroup => "tensor_group",
        QuantizationStrategy.AttnHead => "attn_head",
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, null),
    };

    public static string ToName(this QuantizationType t) => t == QuantizationType.Int ? "int" : "float";

    public static string ToName(this ActivationOrdering a) => a switch
    {
        ActivationOrdering.Group => "group",
        ActivationOrdering.Weight => "weight",
        ActivationOrdering.Dynamic => "dynamic",
        ActivationOrdering.Static => "static",
        _ => throw new ArgumentOutOfRangeException(nameof(a), a, null),
    };

    /// <summary>True for group and its alias dynamic (columns permuted and a g_idx stored).</summary>
    public static bool IsGroupOrder(this ActivationOrdering? a) => a is ActivationOrdering.Group or ActivationOrdering.Dynamic;

    /// <summary>True for weight and its alias static (columns permuted during the solve only).</summary>
    public static bool IsWeightOrder(this ActivationOrdering? a) => a is ActivationOrdering.Weight or ActivationOrdering.Static;

    public static QuantizationStrategy ParseStrategy(string name, string where)
    {
        foreach (var s in Enum.GetValues<QuantizationStrategy>())
            if (string.Equals(s.ToName(), name, StringComparison.OrdinalIgnoreCase)) return s;
        throw new QuantizationConfigException($"{where}: strategy '{name}' is not one of tensor, channel, group, block, token, tensor_group, attn_head");
    }

    public static QuantizationType ParseType(string name, string where) => name.ToLowerInvariant() switch
    {
        "int" => QuantizationType.Int,
        "float" => QuantizationType.Float,
        _ => throw new QuantizationConfigException($"{where}: type '{name}' is not 'int' or 'float'"),
    };

    public static ActivationOrdering ParseActOrder(string name, string where)
    {
        foreach (var a in Enum.GetValues<ActivationOrdering>())
            if (string.Equals(a.ToName(), name, StringComparison.OrdinalIgnoreCase)) return a;
        throw new QuantizationConfigException($"{where}: actorder '{name}' is not one of group, weight, dynamic, static (or true/false/null)");
    }

    /// <summary>"torch.bfloat16" / "bfloat16" → BF16 (the forms compressed-tensors accepts for a dtype).</summary>
    public static DType ParseTorchDType(string name, string where)
    {
        var bare = name.StartsWith("torch.", StringComparison.Ordinal) ? name["torch.".Length..] : name;
        if (DTypeNames.TryParseTorchName(bare, out var d)) return d;
        throw new QuantizationConfigException($"{where}: '{name}' is not a torch dtype this runtime supports (e.g. \"torch.bfloat16\", \"torch.int8\")");
    }

    /// <summary>BF16 → "torch.bfloat16", as str(torch.dtype) prints it.</summary>
    public static string ToTorchString(DType d) => "torch." + d.ToTorchName();
}
