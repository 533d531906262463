using System.Numerics.Tensors;

namespace Offload.Model.Synthetic;

/// <summary>
/// A reproducible stream of standard normal f32 values: xoshiro256** seeded through SplitMix64, Box–Muller over
/// whole spans (TensorPrimitives), so multi-GB tensors are generated quickly and identically on every machine.
/// </summary>
public sealed class GaussianStream
{
    private ulong _s0, _s1, _s2, _s3;
    private float[] _u = [];

    public GaussianStream(ulong seed)
    {
        var x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>A stream keyed by a base seed and a name (stable FNV-1a of the name), independent per tensor.</summary>
    public static GaussianStream For(long seed, string name)
    {
        var h = 14695981039346656037UL;
        foreach (var c in name)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return new GaussianStream(h ^ (ulong)seed * 0x9E3779B97F4A7C15UL);
    }

    /// <summary>Fills <paramref name="dst"/> with N(0, 1) values.</summary>
    public void Fill(Span<float> dst)
    {
        var pairs = (dst.Length + 1) / 2;
        if (_u.Length < 2 * pairs) _u = new float[Math.Max(2 * pairs, 64)];
        var u1 = _u.AsSpan(0, pairs);
        var u2 = _u.AsSpan(pairs, pairs);
        for (var i = 0; i < pairs; i++)
        {
            var r = Next();
            u1[i] = ((r >> 40) + 1) * (1f / (1 << 24));          // (0, 1]: log stays finite
            u2[i] = ((r >> 16) & 0xFFFFFF) * (1f / (1 << 24));   // [0, 1)
        }
        // radius = √(−2 ln u1), angle = 2π u2; z₀ = radius·cos, z₁ = radius·sin
        TensorPrimitives.Log(u1, u1);
        TensorPrimitives.Multiply(u1, -2f, u1);
        TensorPrimitives.Sqrt(u1, u1);
        TensorPrimitives.Multiply(u2, 2f * MathF.PI, u2);
        var half = dst.Length / 2;
        var first = dst[..half];
        var second = dst.Slice(half, dst.Length - half);
        TensorPrimitives.Cos(u2[..half], first);
        TensorPrimitives.Multiply(first, u1[..half], first);
        TensorPrimitives.Sin(u2[..second.Length], second);
        TensorPrimitives.Multiply(second, u1[..second.Length], second);
    }

    /// <summary>A uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((Next() >> 33) % (ulong)n);

    private ulong Next()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    private static ulong SplitMix(ref ulong x)
    {
        var z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
