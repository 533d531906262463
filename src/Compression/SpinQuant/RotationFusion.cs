using Offload.Tensors.Kernels;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// The f64 block-diagonal products every fused rotation reduces to (B = blockdiag(P) of n×n blocks, contiguous chunks
/// as compressed-tensors' _multihead_matmul):
/// <list type="bullet">
/// <item><see cref="RightBlocks"/>: W ← W·B (each row's length-n chunks times P): weight_input, embedding weight_output;</item>
/// <item><see cref="LeftBlocksTransposed"/>: W ← Bᵀ·W (each n-row block X ← Pᵀ·X): Linear weight_output and its bias.</item>
/// </list>
/// </summary>
public static class RotationFusion
{
    /// <summary>W ← W·blockdiag(P). w: [rows, cols] f64, cols a multiple of n; p: [n, n] f64.</summary>
    public static void RightBlocks(Span<double> w, int rows, int cols, ReadOnlySpan<double> p, int n)
    {
        Check(cols, n, "columns");
        var m = checked(rows * (cols / n));
        var tmp = new double[w.Length];
        Gemm.Dgemm(false, false, m, n, n, 1.0, w, n, p, n, 0.0, tmp, n);
        tmp.CopyTo(w);
    }

    /// <summary>W ← blockdiag(P)ᵀ·W. w: [rows, cols] f64, rows a multiple of n; p: [n, n] f64.</summary>
    public static void LeftBlocksTransposed(Span<double> w, int rows, int cols, ReadOnlySpan<double> p, int n)
    {
        Check(rows, n, "rows");
        var tmp = new double[n * cols];
        for (var b = 0; b < rows / n; b++)
        {
            var block = w.Slice(b * n * cols, n * cols);
            Gemm.Dgemm(true, false, n, cols, n, 1.0, p, n, block, cols, 0.0, tmp, cols);
            tmp.CopyTo(block);
        }
    }

    /// <summary>W[:, j] ← W[:, j]·g[j] (a norm weight folded into the linear that reads it). w: [rows, cols], g: [cols].</summary>
    public static void ScaleColumns(Span<double> w, int rows, int cols, ReadOnlySpan<double> g)
    {
        if (g.Length != cols) throw new ArgumentException($"norm of size {g.Length} folded into a linear with {cols} inputs");
        for (var r = 0; r < rows; r++)
        {
            var row = w.Slice(r * cols, cols);
            for (var j = 0; j < cols; j++) row[j] *= g[j];
        }
    }

    private static void Check(int dim, int n, string what)
    {
        if (n <= 0 || dim % n != 0) throw new ArgumentException($"{what} {dim} is not a multiple of the rotation block size {n}");
    }
}
