using System.Numerics.Tensors;
using Offload.Compression.Quantization;
using Offload.Protocol;
using Offload.Tensors.Kernels;

namespace Offload.Compression.Gptq;

/// <summary>
/// llm-compressor's <c>quantize_weight</c> (spec §8.3). Qparams are fixed before the sweep from the un-updated weight
/// (on the permuted weight for actorder=group); actorder group/weight process columns by descending diag(H); dead
/// columns (diag 0) get H=1 and W=0; H is damped by frac·mean(diag); U is the upper Cholesky factor of H⁻¹; columns are
/// fake-quantized one by one and the error is spread over the later columns of the block (rank-1) and, per block, over the
/// rest of the matrix (one GEMM). A failed Cholesky falls back to U = I (round to nearest), as the reference does.
/// Precision: the sweep is f32 as in the reference; the factor U runs in f64 (DESIGN §3), which only removes f32
/// round-off from U. The weight is kept transposed ([in, out]) during the sweep so
/// every column update is a contiguous axpy.
/// </summary>
public static class GptqSolver
{
    /// <summary>
    /// w: [rows, cols] values of <paramref name="weightDType"/> (as f32); h: [cols, cols] f32, the normalized Hessian (not
    /// modified). Weight args must be int with tensor, channel, group or block strategy.
    /// </summary>
    public static GptqResult QuantizeWeight(ReadOnlySpan<float> w, int rows, int cols, float[] h, QuantizationArgs args,
        DType weightDType, GptqOptions? options = null, string module = "weight") =>
        QuantizeWeight(w, rows, cols, Factor(h, cols, args.ActOrder is not null, options), args, weightDType, options, module);

    /// <summary>
    /// Steps 2–5 of §8.3 that depend only on H (so linears reading one input share them): the column order (descending
    /// diag(H) when <paramref name="ordered"/>), the dead columns, the dampening and the upper factor U of H⁻¹, computed
    /// in f64 as U = J·L′⁻¹·J with L′ the lower Cholesky factor of J·H·J (J reverses the index order) — the same U as
    /// cholesky(cholesky_inverse(cholesky(H)), upper) with half the O(n³) work. h: [cols, cols] f32 normalized Hessian.
    /// </summary>
    /// <remarks>With <paramref name="consumeH"/> the factor U is written into <paramref name="h"/>'s own buffer (H is not
    /// needed once the f64 copy is made): one n×n f32 array less at the solve's peak.</remarks>
    public static GptqFactor Factor(float[] h, int cols, bool ordered, GptqOptions? options = null, bool consumeH = false)
    {
        options ??= new GptqOptions();
        if (h.Length != (long)cols * cols) throw new ArgumentException($"H holds {h.Length} values, expected {cols}×{cols}");
        var perm = new int[cols];
        for (var i = 0; i < cols; i++) perm[i] = i;
        if (ordered)
        {
            var diag = new float[cols];
            for (var i = 0; i < cols; i++) diag[i] = h[i * cols + i];
            // Descending diag; ties keep column order.
            Array.Sort(perm, (a, b) => diag[a] != diag[b] ? diag[b].CompareTo(diag[a]) : a.CompareTo(b));
        }
        // R = J·P·H·Pᵀ·J (permuted, then index-reversed), f64.
        var n = cols;
        var r = new double[(long)n * n];
        Parallel.For(0, n, i =>
        {
            var src = perm[n - 1 - i] * n;
            var dst = (long)i * n;
            for (var j = 0; j < n; j++) r[dst + j] = h[src + perm[n - 1 - j]];
        });
        var dead = new bool[n];
        for (var j = 0; j < n; j++)
        {
            var d = (long)(n - 1 - j) * n + (n - 1 - j);
            if (r[d] != 0) continue;
            r[d] = 1;
            dead[j] = true;
        }
        var mean = 0.0;
        for (var j = 0; j < n; j++) mean += r[(long)j * n + j];
        mean /= n;
        var damp = options.DampeningFrac * mean;
        for (var j = 0; j < n; j++) r[(long)j * n + j] += damp;

        float[] u;
        if (consumeH)
        {
            u = h;
            Array.Clear(u);
        }
        else
        {
            u = new float[(long)n * n];
        }
        var ok = Linalg.Dpotrf(Triangle.Lower, n, r, n) == 0 && Linalg.Dtrtri(Triangle.Lower, n, r, n) == 0;
        if (ok)
        {
            // U[i, j] = L′⁻¹[n−1−i, n−1−j] for j ≥ i.
            Parallel.For(0, n, i =>
            {
                var src = (long)(n - 1 - i) * n;
                var dst = (long)i * n;
                for (var j = i; j < n; j++) u[dst + j] = (float)r[src + (n - 1 - j)];
            });
        }
        else
        {
            for (var i = 0; i < n; i++) u[(long)i * n + i] = 1f;
        }
        return new GptqFactor(perm, dead, u, !ok);
    }

    /// <summary>quantize_weight with a precomputed <see cref="Factor"/> (its ordering must match the args' actorder).</summary>
    public static GptqResult QuantizeWeight(ReadOnlySpan<float> w, int rows, int cols, GptqFactor factor, QuantizationArgs args,
        DType weightDType, GptqOptions? options = null, string module = "weight", float? fusedAbsMax = null)
    {
        options ??= new GptqOptions();
        if (w.Length != (long)rows * cols) throw new ArgumentException($"w holds {w.Length} values, expected {rows}×{cols}");
        if (factor.Perm.Length != cols) throw new ArgumentException($"the factor is for {factor.Perm.Length} columns, the weight has {cols}");
        var layout = QParamLayout.For(args, rows, cols, module);
        var perm = factor.Perm;
        var groupOrder = args.ActOrder.IsGroupOrder();

        // Qparams from the un-updated weight (permuted for actorder=group).
        QParams qp;
        if (groupOrder)
        {
            var wp = new float[w.Length];
            for (var r = 0; r < rows; r++)
            for (var j = 0; j < cols; j++)
                wp[r * cols + j] = w[r * cols + perm[j]];
            qp = WeightObserver.Observe(wp, rows, cols, args, weightDType, module, fusedAbsMax);
        }
        else
        {
            qp = WeightObserver.Observe(w, rows, cols, args, weightDType, module, fusedAbsMax);
        }
        // qparam column of each processed (permuted) position.
        var colGroup = new int[cols];
        for (var j = 0; j < cols; j++) colGroup[j] = layout.ColumnGroup(groupOrder ? j : perm[j], default);
        var rowGroup = new int[rows];
        for (var r = 0; r < rows; r++) rowGroup[r] = layout.RowGroup(r) * layout.QCols;

        // Wt: [cols, rows] in processing order; dead columns zeroed.
        var wt = new float[(long)cols * rows];
        var dead = factor.Dead;
        var source = w.ToArray() is var copy ? copy : null!;
        Tiles(rows, cols, (r, j) => wt[(long)j * rows + r] = dead[j] ? 0f : source[(long)r * cols + perm[j]]);

        var loss = Sweep(wt, rows, cols, factor.U, options.BlockSize, qp, args, colGroup, rowGroup);

        // Back to [rows, cols] in the original column order, values of the weight dtype.
        var result = source; // the copy of w is not needed any more
        Tiles(rows, cols, (r, j) => result[(long)r * cols + perm[j]] = QuantMath.RoundTo(wt[(long)j * rows + r], weightDType));
        int[]? gIdx = null;
        if (groupOrder)
        {
            gIdx = new int[cols];
            for (var j = 0; j < cols; j++) gIdx[perm[j]] = colGroup[j];
        }
        return new GptqResult(result, qp, gIdx, loss, factor.FellBackToRtn);
    }

    // Runs body(r, j) for every row r and processing position j in 64×64 tiles (cache-friendly for the transposes),
    // column tiles in parallel: each (r, j) writes its own element.
    private static void Tiles(int rows, int cols, Action<int, int> body)
    {
        const int tile = 64;
        Parallel.For(0, (cols + tile - 1) / tile, jt =>
        {
            var j1 = Math.Min(cols, (jt + 1) * tile);
            for (var r0 = 0; r0 < rows; r0 += tile)
            {
                var r1 = Math.Min(rows, r0 + tile);
                for (var j = jt * tile; j < j1; j++)
                for (var r = r0; r < r1; r++)
                    body(r, j);
            }
        });
    }

    /// <summary>Rows per chunk of the sweep's element loops: fixed, so the result does not depend on the core count.</summary>
    private const int RowChunk = 256;

    // Each block of columns: the element loops (fake-quantize a column, the error, the rank-1 updates of the block's later
    // columns) touch each row on its own, so fixed chunks of rows run in parallel; then one GEMM (BLAS threads) updates
    // the columns after the block. The loss sums per chunk, chunks in order.
    private static double Sweep(float[] wt, int rows, int cols, float[] u, int blockSize, QParams qp, QuantizationArgs args, int[] colGroup, int[] rowGroup)
    {
        var grid = QuantGrid.Of(args);
        var scaleDType = qp.ScaleDType;
        var computeDType = WeightQuantizer.ComputeDType(DType.F32, qp);
        var global = qp.GlobalScale;
        // Int codes on f32 values and scales (an f32 model): QuantMath.FakeQuantize's arithmetic, inlined.
        var plainInt = grid.Type == QuantizationType.Int && computeDType == DType.F32 && scaleDType == DType.F32 && global is null;
        var (qmin, qmax) = (grid.Min, grid.Max);
        var errBlock = new float[(long)Math.Min(blockSize, cols) * rows]; // [B, rows]
        var chunks = (rows + RowChunk - 1) / RowChunk;
        var chunkLoss = new double[chunks];
        for (var i1 = 0; i1 < cols; i1 += blockSize)
        {
            var i2 = Math.Min(i1 + blockSize, cols);
            var count = i2 - i1;
            var blockStart = i1;
            Parallel.For(0, chunks, c =>
            {
                var r0 = c * RowChunk;
                var n = Math.Min(RowChunk, rows - r0);
                Span<float> e = stackalloc float[RowChunk];
                e = e[..n];
                var loss = 0.0;
                for (var i = blockStart; i < i2; i++)
                {
                    var col = wt.AsSpan((int)((long)i * rows + r0), n);
                    var d = u[(long)i * cols + i];
                    var g = colGroup[i];
                    var columnLoss = 0.0;
                    for (var k = 0; k < n; k++)
                    {
                        var q = rowGroup[r0 + k] + g;
                        var x = col[k];
                        float fq;
                        if (plainInt)
                        {
                            var scale = qp.Scale[q];
                            var zp = qp.ZeroPoint[q];
                            var v = x / scale;
                            if (zp != 0) v += zp;
                            var code = MathF.Round(Math.Clamp(v, qmin, qmax), MidpointRounding.ToEven);
                            fq = (code - zp) * scale;
                        }
                        else
                        {
                            fq = QuantMath.FakeQuantize(x, qp.Scale[q], qp.ZeroPoint[q], grid, computeDType, scaleDType, global);
                        }
                        var diff = x - fq;
                        columnLoss += diff * diff / (d * d);
                        e[k] = diff / d;
                        col[k] = fq;
                    }
                    loss += columnLoss / 2;
                    e.CopyTo(errBlock.AsSpan((i - blockStart) * rows + r0, n));
                    // Later columns of the block: W[:, j] −= e · U[i, j].
                    for (var j = i + 1; j < i2; j++)
                    {
                        var uij = u[(long)i * cols + j];
                        var target = wt.AsSpan((int)((long)j * rows + r0), n);
                        if (uij != 0f) TensorPrimitives.MultiplyAdd(e, -uij, target, target);
                    }
                }
                chunkLoss[c] += loss;
            });
            // The rest: Wt[i2:, :] −= U[i1:i2, i2:]ᵀ · Err[B, rows].
            if (i2 < cols)
            {
                Gemm.Sgemm(true, false, cols - i2, rows, count, -1f,
                    u.AsSpan((int)((long)i1 * cols + i2)), cols,
                    errBlock.AsSpan(0, count * rows), rows, 1f,
                    wt.AsSpan((int)((long)i2 * rows)), rows);
            }
        }
        var total = 0.0;
        foreach (var l in chunkLoss) total += l;
        return total;
    }
}
