namespace Offload.Tensors.Tests.Reference;

/// <summary>Seeded random test data (System.Random with a fixed seed is stable across .NET versions for NextDouble).</summary>
internal static class Rand
{
    /// <summary>n values uniform in [−1, 1); with <paramref name="f32"/> each is rounded to the nearest float first.</summary>
    public static double[] Uniform(int seed, long n, bool f32 = false)
    {
        var rng = new Random(seed);
        var x = new double[n];
        for (long i = 0; i < n; i++)
        {
            var v = rng.NextDouble() * 2 - 1;
            x[i] = f32 ? (float)v : v;
        }
        return x;
    }

    public static float[] ToFloat(double[] x)
    {
        var f = new float[x.Length];
        for (var i = 0; i < x.Length; i++) f[i] = (float)x[i];
        return f;
    }

    public static double[] ToDouble(ReadOnlySpan<float> x)
    {
        var d = new double[x.Length];
        for (var i = 0; i < x.Length; i++) d[i] = x[i];
        return d;
    }

    /// <summary>
    /// A dense symmetric positive definite [n,n] matrix (f32-representable when asked): off-diagonal entries uniform in
    /// [−1, 1), diagonal n + uniform[1, 2) — strictly diagonally dominant, so SPD with condition number below ~3.
    /// </summary>
    public static double[] Spd(int seed, int n, bool f32)
    {
        var rng = new Random(seed);
        var a = new double[(long)n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < i; j++)
            {
                var v = rng.NextDouble() * 2 - 1;
                if (f32) v = (float)v;
                a[(long)i * n + j] = v;
                a[(long)j * n + i] = v;
            }
            var d = n + 1 + rng.NextDouble();
            a[(long)i * n + i] = f32 ? (float)d : d;
        }
        return a;
    }
}
