namespace Offload.Transforms.Random;

/// <summary>The random ±1 diagonal of random-hadamard: torch.randint(0, 2, (n,)) · 2 − 1 on the factory generator.</summary>
public static class RandomSigns
{
    /// <summary>n signs sᵢ = 2·(output mod 2) − 1, consuming n outputs of <paramref name="generator"/>: [n] ±1.</summary>
    public static sbyte[] Draw(Mt19937 generator, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var signs = new sbyte[n];
        for (var i = 0; i < n; i++) signs[i] = (sbyte)(2 * generator.NextBit() - 1);
        return signs;
    }
}
