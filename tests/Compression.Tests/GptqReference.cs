namespace Offload.Compression.Tests;

/// <summary>
/// A float64, literal re-statement of spec §8.3 (row-major W [rows, cols], per-element loops, its own Cholesky), used
/// only as the reference for <c>GptqSolver</c>. Int weights with tensor, channel or group strategy.
/// </summary>
internal static class GptqReference
{
    public sealed record Result(double[] Weight, double[] Scale, int[] ZeroPoint, int[]? GIdx);

    public static Result Quantize(double[] w0, int rows, int cols, double[] h0, int bits, bool symmetric, string strategy, int groupSize,
        string? actorder, int blockSize, double percdamp)
    {
        var w = (double[])w0.Clone();
        var h = (double[])h0.Clone();
        var qmin = -(1 << (bits - 1));
        var qmax = (1 << (bits - 1)) - 1;
        var perm = Enumerable.Range(0, cols).ToArray();
        if (actorder is not null)
            perm = perm.OrderByDescending(i => h[i * cols + i]).ThenBy(i => i).ToArray();
        w = PermuteCols(w, rows, cols, perm);
        h = PermuteBoth(h, cols, perm);
        var g = strategy switch { "group" => groupSize, "channel" => cols, _ => cols };
        var groups = strategy == "group" ? cols / groupSize : 1;
        var qRows = strategy == "tensor" ? 1 : rows;
        // Qparams from the un-updated weight: the permuted one for group order, the original otherwise.
        var observed = actorder == "group" ? w : w0;
        var scale = new double[qRows * groups];
        var zp = new int[qRows * groups];
        for (var qr = 0; qr < qRows; qr++)
        for (var qg = 0; qg < groups; qg++)
        {
            double lo = 0, hi = 0;
            for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
            {
                if (strategy != "tensor" && r != qr) continue;
                if (strategy == "group" && c / g != qg) continue;
                lo = Math.Min(lo, observed[r * cols + c]);
                hi = Math.Max(hi, observed[r * cols + c]);
            }
            var k = qr * groups + qg;
            if (symmetric) scale[k] = Math.Max(-lo, hi) / ((qmax - qmin) / 2.0);
            else
            {
                scale[k] = (hi - lo) / (qmax - qmin);
                zp[k] = (int)Math.Round(Math.Clamp(qmin - lo / scale[k], qmin, qmax), MidpointRounding.ToEven);
            }
        }
        // g_idx per processed position.
        var gIdx = new int[cols];
        for (var j = 0; j < cols; j++) gIdx[j] = strategy == "group" ? (actorder == "group" ? j / g : perm[j] / g) : 0;

        for (var d = 0; d < cols; d++)
        {
            if (h[d * cols + d] != 0) continue;
            h[d * cols + d] = 1;
            for (var r = 0; r < rows; r++) w[r * cols + d] = 0;
        }
        var mean = 0.0;
        for (var d = 0; d < cols; d++) mean += h[d * cols + d];
        mean /= cols;
        for (var d = 0; d < cols; d++) h[d * cols + d] += percdamp * mean;

        var l = CholeskyLower(h, cols);
        var hinv = InverseFromLower(l, cols);
        var u = Transpose(CholeskyLower(hinv, cols), cols); // upper U with Hinv = UᵀU

        for (var i1 = 0; i1 < cols; i1 += blockSize)
        {
            var i2 = Math.Min(i1 + blockSize, cols);
            var err = new double[rows * (i2 - i1)];
            for (var i = i1; i < i2; i++)
            {
                var d = u[i * cols + i];
                for (var r = 0; r < rows; r++)
                {
                    var k = (strategy == "tensor" ? 0 : r) * groups + gIdx[i];
                    var x = w[r * cols + i];
                    var q = Math.Round(Math.Clamp(x / scale[k] + zp[k], qmin, qmax), MidpointRounding.ToEven);
                    var fq = (q - zp[k]) * scale[k];
                    var e = (x - fq) / d;
                    w[r * cols + i] = fq;
                    err[r * (i2 - i1) + (i - i1)] = e;
                    for (var j = i + 1; j < i2; j++) w[r * cols + j] -= e * u[i * cols + j];
                }
            }
            for (var r = 0; r < rows; r++)
            for (var j = i2; j < cols; j++)
            {
                var s = 0.0;
                for (var i = i1; i < i2; i++) s += err[r * (i2 - i1) + (i - i1)] * u[i * cols + j];
                w[r * cols + j] -= s;
            }
        }
        var inv = new int[cols];
        for (var j = 0; j < cols; j++) inv[perm[j]] = j;
        var result = PermuteCols(w, rows, cols, inv);
        int[]? outGIdx = null;
        if (actorder == "group")
        {
            outGIdx = new int[cols];
            for (var j = 0; j < cols; j++) outGIdx[perm[j]] = gIdx[j];
        }
        return new Result(result, scale, zp, outGIdx);
    }

    private static double[] PermuteCols(double[] w, int rows, int cols, int[] perm)
    {
        var r2 = new double[w.Length];
        for (var r = 0; r < rows; r++)
        for (var j = 0; j < cols; j++)
            r2[r * cols + j] = w[r * cols + perm[j]];
        return r2;
    }

    private static double[] PermuteBoth(double[] h, int n, int[] perm)
    {
        var r2 = new double[h.Length];
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
            r2[i * n + j] = h[perm[i] * n + perm[j]];
        return r2;
    }

    public static double[] CholeskyLower(double[] a, int n)
    {
        var l = new double[n * n];
        for (var j = 0; j < n; j++)
        {
            var s = a[j * n + j];
            for (var k = 0; k < j; k++) s -= l[j * n + k] * l[j * n + k];
            if (s <= 0) throw new InvalidOperationException("not positive definite");
            l[j * n + j] = Math.Sqrt(s);
            for (var i = j + 1; i < n; i++)
            {
                var t = a[i * n + j];
                for (var k = 0; k < j; k++) t -= l[i * n + k] * l[j * n + k];
                l[i * n + j] = t / l[j * n + j];
            }
        }
        return l;
    }

    private static double[] InverseFromLower(double[] l, int n)
    {
        // Solve L·Lᵀ·X = I column by column.
        var x = new double[n * n];
        var y = new double[n];
        for (var c = 0; c < n; c++)
        {
            for (var i = 0; i < n; i++)
            {
                var s = i == c ? 1.0 : 0.0;
                for (var k = 0; k < i; k++) s -= l[i * n + k] * y[k];
                y[i] = s / l[i * n + i];
            }
            for (var i = n - 1; i >= 0; i--)
            {
                var s = y[i];
                for (var k = i + 1; k < n; k++) s -= l[k * n + i] * x[k * n + c];
                x[i * n + c] = s / l[i * n + i];
            }
        }
        return x;
    }

    private static double[] Transpose(double[] a, int n)
    {
        var t = new double[n * n];
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
            t[j * n + i] = a[i * n + j];
        return t;
    }
}
