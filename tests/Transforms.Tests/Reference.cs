using Offload.Model.SafeTensors;
using Offload.Tests.Shared;

namespace Offload.Transforms.Tests;

/// <summary>Slow, obviously-correct references the tests compare against (no code under test inside).</summary>
internal static class Reference
{
    /// <summary>Sylvester entry (−1)^popcount(i &amp; j), by counting bits one at a time.</summary>
    public static int SylvesterEntry(int i, int j)
    {
        var x = i & j;
        var parity = 0;
        while (x != 0)
        {
            parity ^= x & 1;
            x >>= 1;
        }
        return parity == 0 ? 1 : -1;
    }

    /// <summary>S_n as f64: [n, n].</summary>
    public static double[] Sylvester(int n)
    {
        var s = new double[n * n];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                s[i * n + j] = SylvesterEntry(i, j);
        return s;
    }

    /// <summary>The FWHT by its definition, one stage at a time, in f64: x ← x·S_n.</summary>
    public static void ScalarFwht(Span<double> x)
    {
        var n = x.Length;
        for (var h = 1; h < n; h *= 2)
            for (var i = 0; i < n; i += 2 * h)
                for (var j = i; j < i + h; j++)
                {
                    var a = x[j];
                    var b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
    }

    /// <summary>The same in f32 (same operation order, so the kernel must agree bit for bit).</summary>
    public static void ScalarFwht(Span<float> x)
    {
        var n = x.Length;
        for (var h = 1; h < n; h *= 2)
            for (var i = 0; i < n; i += 2 * h)
                for (var j = i; j < i + h; j++)
                {
                    var a = x[j];
                    var b = x[j + h];
                    x[j] = a + b;
                    x[j + h] = a - b;
                }
    }

    /// <summary>K·Kᵀ = k·I checked with integer dot products.</summary>
    public static bool IsHadamard(ReadOnlySpan<sbyte> k, int order)
    {
        for (var i = 0; i < order; i++)
            for (var j = 0; j < order; j++)
            {
                long dot = 0;
                for (var p = 0; p < order; p++) dot += k[i * order + p] * k[j * order + p];
                if (dot != (i == j ? order : 0)) return false;
            }
        return true;
    }

    /// <summary>C = A·B, [m, k]·[k, n], f64, triple loop.</summary>
    public static double[] MatMul(double[] a, double[] b, int m, int k, int n)
    {
        var c = new double[m * n];
        for (var i = 0; i < m; i++)
            for (var p = 0; p < k; p++)
            {
                var av = a[i * k + p];
                if (av == 0) continue;
                for (var j = 0; j < n; j++) c[i * n + j] += av * b[p * n + j];
            }
        return c;
    }

    /// <summary>Xᵀ: [rows, cols] → [cols, rows].</summary>
    public static double[] Transpose(double[] x, int rows, int cols)
    {
        var t = new double[x.Length];
        for (var i = 0; i < rows; i++)
            for (var j = 0; j < cols; j++)
                t[j * rows + i] = x[i * cols + j];
        return t;
    }

    /// <summary>blockdiag(A, …, A) of size d = blocks·n.</summary>
    public static double[] BlockDiag(double[] a, int n, int d)
    {
        var b = new double[d * d];
        for (var o = 0; o < d; o += n)
            for (var i = 0; i < n; i++)
                for (var j = 0; j < n; j++)
                    b[(o + i) * d + o + j] = a[i * n + j];
        return b;
    }

    /// <summary>Kronecker product X ⊗ Y.</summary>
    public static double[] Kron(double[] x, int nx, double[] y, int ny)
    {
        var n = nx * ny;
        var r = new double[n * n];
        for (var i = 0; i < nx; i++)
            for (var j = 0; j < nx; j++)
                for (var p = 0; p < ny; p++)
                    for (var q = 0; q < ny; q++)
                        r[(i * ny + p) * n + j * ny + q] = x[i * nx + j] * y[p * ny + q];
        return r;
    }

    /// <summary>A⁻¹ by Gauss–Jordan with partial pivoting (f64).</summary>
    public static double[] Invert(double[] a, int n)
    {
        var w = (double[])a.Clone();
        var inv = new double[n * n];
        for (var i = 0; i < n; i++) inv[i * n + i] = 1;
        for (var c = 0; c < n; c++)
        {
            var p = c;
            for (var r = c + 1; r < n; r++)
                if (Math.Abs(w[r * n + c]) > Math.Abs(w[p * n + c])) p = r;
            for (var j = 0; j < n; j++)
            {
                (w[c * n + j], w[p * n + j]) = (w[p * n + j], w[c * n + j]);
                (inv[c * n + j], inv[p * n + j]) = (inv[p * n + j], inv[c * n + j]);
            }
            var d = w[c * n + c];
            for (var j = 0; j < n; j++)
            {
                w[c * n + j] /= d;
                inv[c * n + j] /= d;
            }
            for (var r = 0; r < n; r++)
            {
                if (r == c) continue;
                var f = w[r * n + c];
                for (var j = 0; j < n; j++)
                {
                    w[r * n + j] -= f * w[c * n + j];
                    inv[r * n + j] -= f * inv[c * n + j];
                }
            }
        }
        return inv;
    }

    /// <summary>Seeded values in [−1, 1).</summary>
    public static double[] RandomDoubles(int count, int seed)
    {
        var rng = new System.Random(seed);
        var v = new double[count];
        for (var i = 0; i < count; i++) v[i] = rng.NextDouble() * 2 - 1;
        return v;
    }

    /// <summary>max |a − b| / max |b|.</summary>
    public static double RelativeError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        double maxErr = 0, maxRef = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            maxErr = Math.Max(maxErr, Math.Abs(actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxRef == 0 ? maxErr : maxErr / maxRef;
    }

    /// <summary>‖a − b‖₂ / ‖b‖₂, the norm-wise relative error.</summary>
    public static double RelativeNormError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        double num = 0, den = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var e = actual[i] - expected[i];
            num += e * e;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    /// <summary>compressed-tensors' reference bases from shared/data (tests only): order → [k, k] int8.</summary>
    public static IReadOnlyDictionary<int, sbyte[]> ReferenceBases => s_bases.Value;

    private static readonly Lazy<Dictionary<int, sbyte[]>> s_bases = new(() =>
    {
        using var file = SafetensorsFile.Open(SharedData.File("reference/hadamards.safetensors"));
        var result = new Dictionary<int, sbyte[]>();
        foreach (var d in file.Tensors)
        {
            using var t = file.Get(d.Name);
            result[int.Parse(d.Name)] = t.ReadOnlySpan<sbyte>().ToArray();
        }
        return result;
    });
}
