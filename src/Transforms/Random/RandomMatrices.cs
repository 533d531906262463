namespace Offload.Transforms.Random;

/// <summary>
/// The random-matrix transforms. <see cref="Uniform"/> is compressed-tensors' choice (entries uniform in [0, 1), not
/// orthogonal, not guaranteed invertible); <see cref="Orthogonal"/> is the variant we recommend (Haar-distributed:
/// QR of a Gaussian matrix with the signs of diag(R) folded into Q), whose inverse is its transpose.
/// </summary>
/// <remarks>
/// The uniform draws take torch's CPU recipe (f32: 24 low bits of one output · 2⁻²⁴; f64: 53 low bits of two
/// outputs, the first as the high word, · 2⁻⁵³) but, unlike random-hadamard, this was not checked against torch, so
/// treat random-matrix values as reproducible within Offload only (spec §4.4).
/// </remarks>
public static class RandomMatrices
{
    /// <summary>R with entries uniform in [0, 1), drawn row-major: [n, n] f64 (values exactly representable in f32 when <paramref name="f32Resolution"/>).</summary>
    public static double[] Uniform(Mt19937 generator, int n, bool f32Resolution = false)
    {
        var result = new double[(long)n * n];
        for (var i = 0; i < result.Length; i++) result[i] = f32Resolution ? UniformF32(generator) : UniformF64(generator);
        return result;
    }

    /// <summary>A Haar-random orthogonal matrix: [n, n] f64 with Q·Qᵀ = I to rounding.</summary>
    public static double[] Orthogonal(Mt19937 generator, int n)
    {
        var a = new double[(long)n * n];
        for (var i = 0; i < a.Length; i += 2)
        {
            var (g0, g1) = Gaussian(generator);
            a[i] = g0;
            if (i + 1 < a.Length) a[i + 1] = g1;
        }
        return QrOrthogonalFactor(a, n);
    }

    /// <summary>One uniform [0, 1) value with 24 random bits (torch.rand, f32).</summary>
    public static double UniformF32(Mt19937 generator) => (generator.NextUInt32() & ((1u << 24) - 1)) * (1.0 / (1 << 24));

    /// <summary>One uniform [0, 1) value with 53 random bits (torch.rand, f64).</summary>
    public static double UniformF64(Mt19937 generator)
    {
        ulong hi = generator.NextUInt32();
        ulong lo = generator.NextUInt32();
        var bits = ((hi << 32) | lo) & ((1UL << 53) - 1);
        return bits * (1.0 / (1UL << 53));
    }

    /// <summary>Two independent standard normals (Box–Muller on two 53-bit uniforms).</summary>
    private static (double, double) Gaussian(Mt19937 generator)
    {
        var u1 = 1.0 - UniformF64(generator); // (0, 1]
        var u2 = UniformF64(generator);
        var r = Math.Sqrt(-2.0 * Math.Log(u1));
        return (r * Math.Cos(2 * Math.PI * u2), r * Math.Sin(2 * Math.PI * u2));
    }

    /// <summary>
    /// Q of A = Q·R by Householder reflections, with column j of Q multiplied by sign(R[j][j]) so that the result is
    /// Haar-distributed when A is Gaussian (Mezzadri 2007). a: [n, n] row-major, overwritten.
    /// </summary>
    private static double[] QrOrthogonalFactor(double[] a, int n)
    {
        var vs = new double[n][];
        var diagSign = new double[n];
        for (var col = 0; col < n; col++)
        {
            var norm = 0.0;
            for (var r = col; r < n; r++) norm += a[r * n + col] * a[r * n + col];
            norm = Math.Sqrt(norm);
            var x0 = a[col * n + col];
            var alpha = x0 >= 0 ? -norm : norm; // R[col][col] = alpha
            diagSign[col] = alpha >= 0 ? 1 : -1;
            var v = new double[n - col];
            for (var r = col; r < n; r++) v[r - col] = a[r * n + col];
            v[0] -= alpha;
            var vnorm2 = 0.0;
            foreach (var e in v) vnorm2 += e * e;
            if (vnorm2 > 0)
            {
                // apply H = I − 2vvᵀ/(vᵀv) to the remaining columns
                for (var j = col; j < n; j++)
                {
                    var dot = 0.0;
                    for (var r = col; r < n; r++) dot += v[r - col] * a[r * n + j];
                    var f = 2 * dot / vnorm2;
                    for (var r = col; r < n; r++) a[r * n + j] -= f * v[r - col];
                }
                var inv = 1 / Math.Sqrt(vnorm2);
                for (var r = 0; r < v.Length; r++) v[r] *= inv;
            }
            vs[col] = v;
        }
        // Q = H₀·H₁·…·H_{n−1}: apply the reflections in reverse order to the identity.
        var q = new double[(long)n * n];
        for (var i = 0; i < n; i++) q[i * n + i] = 1;
        for (var col = n - 1; col >= 0; col--)
        {
            var v = vs[col];
            for (var j = 0; j < n; j++)
            {
                var dot = 0.0;
                for (var r = col; r < n; r++) dot += v[r - col] * q[r * n + j];
                if (dot == 0) continue;
                for (var r = col; r < n; r++) q[r * n + j] -= 2 * dot * v[r - col];
            }
        }
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                q[i * n + j] *= diagSign[j];
        return q;
    }
}
