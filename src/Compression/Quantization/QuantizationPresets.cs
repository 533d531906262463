using System.Globalization;

namespace Offload.Compression.Quantization;

/// <summary>
/// The integer preset schemes of compressed-tensors HEAD (spec §9): Wb = int b-bit weights, group 128, symmetric,
/// static; A8/A4 = int input activations, token strategy, symmetric, dynamic. W8A8 (alias INT8) uses channel-wise int8
/// weights; W4A16_ASYM is asymmetric. Float presets (FP8, NVFP4, MXFP…) are refused: this runtime computes int codes only.
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

    private static List<string> BuildNames()
    {
        var names = new List<string>();
        for (var b = 2; b <= 8; b++) names.Add($"W{b}A16");
        for (var b = 2; b <= 7; b++) names.Add($"W{b}A8");
        for (var b = 2; b <= 4; b++) names.Add($"W{b}A4");
        names.AddRange(["W4A16_ASYM", "W8A8", "INT8", "UNQUANTIZED"]);
        return names;
    }
}
