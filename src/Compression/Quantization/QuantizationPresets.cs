using System.Globalization;
using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// The preset schemes of compressed-tensors 0.18 (formats spec §1.1). Int: Wb = int b-bit weights, group 128, symmetric,
/// static; A8/A4 = int input activations, token strategy, symmetric, dynamic; W8A8 (alias INT8) uses channel-wise int8
/// weights; W4A16_ASYM is asymmetric. Float: FP8 (tensor weights, static tensor inputs), FP8_DYNAMIC (channel weights,
/// dynamic token inputs), FP8_BLOCK (128×128 blocks, dynamic group-128 inputs), NVFP4A16 / NVFP4 (fp4 tensor_group 16
/// with e4m3 scales; NVFP4 adds "local" dynamic fp4 inputs), MXFP4A16 / MXFP4 and MXFP8A16 / MXFP8 (group 32, E8M0
/// uint8 scales; the unsuffixed ones add dynamic inputs of the same kind), W4AFP8 (int4 group 128, dynamic fp8 tokens).
/// </summary>
public static class QuantizationPresets
{
    public const int DefaultGroupSize = 128;

    /// <summary>Every preset name this class knows.</summary>
    public static IReadOnlyList<string> Names { get; } = BuildNames();

    /// <summary>The preset <paramref name="name"/> (case-insensitive) targeting <paramref name="targets"/>.</summary>
    public static QuantizationScheme Get(string name, IReadOnlyList<string> targets)
    {
        var upper = name.ToUpperInvariant();
        var where = $"scheme '{name}'";
        switch (upper)
        {
            case "W8A8" or "INT8":
                return new QuantizationScheme(targets,
                    QuantizationArgs.Create(8, strategy: QuantizationStrategy.Channel, where: where),
                    Activations(8, where), where: where);
            case "W4A16_ASYM":
                return new QuantizationScheme(targets,
                    QuantizationArgs.Create(4, symmetric: false, groupSize: DefaultGroupSize, strategy: QuantizationStrategy.Group, where: where),
                    where: where);
            case "UNQUANTIZED":
                return new QuantizationScheme(targets, null, where: where);
            case "FP8":
                return new QuantizationScheme(targets, Float(8, QuantizationStrategy.Tensor, where: where),
                    Float(8, QuantizationStrategy.Tensor, observer: "static_minmax", where: where), where: where);
            case "FP8_DYNAMIC":
                return new QuantizationScheme(targets, Float(8, QuantizationStrategy.Channel, where: where),
                    Float(8, QuantizationStrategy.Token, dynamic: DynamicMode.Dynamic, where: where), where: where);
            case "FP8_BLOCK":
                return new QuantizationScheme(targets, Float(8, QuantizationStrategy.Block, block: [128, 128], where: where),
                    Float(8, QuantizationStrategy.Group, 128, dynamic: DynamicMode.Dynamic, where: where), where: where);
            case "NVFP4A16" or "NVFP4":
                return new QuantizationScheme(targets, Float(4, QuantizationStrategy.TensorGroup, 16, scale: DType.F8E4M3, where: where),
                    upper == "NVFP4"
                        ? Float(4, QuantizationStrategy.TensorGroup, 16, DynamicMode.Local, DType.F8E4M3, "static_minmax", where: where)
                        : null, where: where);
            case "MXFP4A16" or "MXFP4" or "MXFP8A16" or "MXFP8":
            {
                var bits = upper.StartsWith("MXFP4", StringComparison.Ordinal) ? 4 : 8;
                return new QuantizationScheme(targets, Float(bits, QuantizationStrategy.Group, 32, scale: DType.U8, where: where),
                    upper.EndsWith("A16", StringComparison.Ordinal) ? null
                        : Float(bits, QuantizationStrategy.Group, 32, DynamicMode.Dynamic, DType.U8, where: where), where: where);
            }
            case "W4AFP8":
                return new QuantizationScheme(targets,
                    QuantizationArgs.Create(4, groupSize: DefaultGroupSize, strategy: QuantizationStrategy.Group, where: where),
                    Float(8, QuantizationStrategy.Token, dynamic: DynamicMode.Dynamic, where: where), where: where);
        }
        if (upper.Length >= 4 && upper[0] == 'W' && char.IsDigit(upper[1]) && upper[2] == 'A'
            && int.TryParse(upper.AsSpan(1, 1), NumberStyles.None, CultureInfo.InvariantCulture, out var wb)
            && int.TryParse(upper.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out var ab))
        {
            var ok = ab switch
            {
                16 => wb is >= 2 and <= 8,
                8 => wb is >= 2 and <= 7,
                4 => wb is >= 2 and <= 4,
                _ => false,
            };
            if (ok)
            {
                return new QuantizationScheme(targets,
                    QuantizationArgs.Create(wb, groupSize: DefaultGroupSize, strategy: QuantizationStrategy.Group, where: where),
                    ab == 16 ? null : Activations(ab, where), where: where);
            }
        }
        throw new QuantizationConfigException($"{where}: unknown or unsupported preset; use one of {string.Join(", ", Names)}");
    }

    /// <summary>Int b-bit input activations: token strategy, symmetric, dynamic (the A8/A4 of the presets).</summary>
    public static QuantizationArgs Activations(int bits, string where = "activations") =>
        QuantizationArgs.Create(bits, strategy: QuantizationStrategy.Token, dynamic: DynamicMode.Dynamic, where: where);

    private static QuantizationArgs Float(int bits, QuantizationStrategy strategy, int? group = null, DynamicMode dynamic = DynamicMode.Static,
        DType? scale = null, string? observer = null, int[]? block = null, string where = "scheme") =>
        QuantizationArgs.Create(bits, QuantizationType.Float, groupSize: group, strategy: strategy, blockStructure: block, dynamic: dynamic,
            scaleDType: scale, observer: observer, where: where);

    private static List<string> BuildNames()
    {
        var names = new List<string>();
        for (var b = 2; b <= 8; b++) names.Add($"W{b}A16");
        for (var b = 2; b <= 7; b++) names.Add($"W{b}A8");
        for (var b = 2; b <= 4; b++) names.Add($"W{b}A4");
        names.AddRange(["W4A16_ASYM", "W8A8", "INT8", "W4AFP8", "FP8", "FP8_DYNAMIC", "FP8_BLOCK", "NVFP4A16", "NVFP4", "MXFP4A16", "MXFP4",
            "MXFP8A16", "MXFP8", "UNQUANTIZED"]);
        return names;
    }
}
