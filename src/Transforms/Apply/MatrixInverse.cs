namespace Offload.Transforms.Apply;

/// <summary>General f64 matrix inverse (Gauss–Jordan elimination with partial pivoting), for random-matrix transforms.</summary>
public static class MatrixInverse
{
    /// <summary>A⁻¹ for a: [n, n] row-major f64. Throws <see cref="ArgumentException"/> when A is singular to working precision.</summary>
    public static double[] Invert(ReadOnlySpan<double> a, int n)
    {
        if (a.Length != (long)n * n) throw new ArgumentException($"{a.Length} values do not fill a {n}×{n} matrix");
        var w = a.ToArray();           // (n, n), reduced to I
        var inv = new double[w.Length]; // (n, n), becomes A⁻¹
        for (var i = 0; i < n; i++) inv[i * n + i] = 1;
        var scale = 0.0;
        foreach (var v in w) scale = Math.Max(scale, Math.Abs(v));
        for (var col = 0; col < n; col++)
        {
            var pivot = col;
            var best = Math.Abs(w[col * n + col]);
            for (var r = col + 1; r < n; r++)
            {
                var v = Math.Abs(w[r * n + col]);
                if (v > best)
                {
                    best = v;
                    pivot = r;
                }
            }
            if (best <= scale * n * 1e-15 || best == 0) throw new ArgumentException($"matrix of size {n} is singular to working precision (pivot {best:g3} in column {col})");
            if (pivot != col)
            {
                SwapRows(w, n, pivot, col);
                SwapRows(inv, n, pivot, col);
            }
            var d = 1.0 / w[col * n + col];
            var wr = w.AsSpan(col * n, n);
            var ir = inv.AsSpan(col * n, n);
            for (var j = 0; j < n; j++)
            {
                wr[j] *= d;
                ir[j] *= d;
            }
            for (var r = 0; r < n; r++)
            {
                if (r == col) continue;
                var f = w[r * n + col];
                if (f == 0) continue;
                var wt = w.AsSpan(r * n, n);
                var it = inv.AsSpan(r * n, n);
                for (var j = 0; j < n; j++)
                {
                    wt[j] -= f * wr[j];
                    it[j] -= f * ir[j];
                }
            }
        }
        return inv;
    }

    private static void SwapRows(double[] m, int n, int a, int b)
    {
        for (var j = 0; j < n; j++) (m[a * n + j], m[b * n + j]) = (m[b * n + j], m[a * n + j]);
    }
}
