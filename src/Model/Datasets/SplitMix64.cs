namespace Offload.Model.Datasets;

/// <summary>
/// Sebastiano Vigna's SplitMix64 generator: a fixed algorithm (unlike <see cref="System.Random"/>, whose sequence
/// .NET does not promise), so a seed picks the same calibration windows on every .NET version and machine.
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform integer in [0, n), without modulo bias (draws below 2⁶⁴ mod n are rejected).</summary>
    public ulong NextBelow(ulong n)
    {
        ArgumentOutOfRangeException.ThrowIfZero(n);
        var reject = (0UL - n) % n; // 2⁶⁴ mod n
        while (true)
        {
            var x = Next();
            if (x >= reject) return x % n;
        }
    }
}
