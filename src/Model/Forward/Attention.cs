using System.Buffers;
using Offload.Tensors.Kernels;

namespace Offload.Model.Forward;

/// <summary>
/// Causal grouped-query attention through GEMM: per (batch row, head) scores = q·kᵀ/√d, a causal (optionally sliding)
/// mask, softmax, then scores·v. Query head h reads key/value head h / (heads / kv_heads), as transformers'
/// repeat_kv does.
/// </summary>
internal static unsafe class Attention
{
    /// <summary>Queries per GEMM block; a block reads only the keys up to its last position.</summary>
    private const int QueryBlock = 64;

    /// <summary>
    /// q, o: [batch·seq, heads·head_dim] f32. k, v: per batch row b, kvLen rows of kv_heads·head_dim starting at
    /// b·kvBatchStride. Query i of each row sits at position start + i and sees keys [max(0, pos − window + 1), pos].
    /// </summary>
    public static void Causal(float* q, float* k, float* v, float* o, int batch, int seq, int heads, int kvHeads, int headDim,
        long kvBatchStride, int kvLen, int start, int? window)
    {
        var qDim = heads * headDim;
        var kvDim = kvHeads * headDim;
        var group = heads / kvHeads;
        var scale = 1f / MathF.Sqrt(headDim);
        var qp = (nint)q;
        var kp = (nint)k;
        var vp = (nint)v;
        var op = (nint)o;
        // Heads run one after another: each GEMM below already uses every BLAS thread, and running heads in parallel
        // on top of a multi-threaded BLAS oversubscribed the cores (measured: the hidden-2048 layer took 2.5× longer).
        for (var job = 0; job < batch * heads; job++)
        {
            var b = job / heads;
            var h = job % heads;
            var g = h / group;
            var qs = new ReadOnlySpan<float>((float*)qp + (long)b * seq * qDim + h * headDim, (seq - 1) * qDim + headDim);
            var ks = new ReadOnlySpan<float>((float*)kp + b * kvBatchStride + g * headDim, (kvLen - 1) * kvDim + headDim);
            var vs = new ReadOnlySpan<float>((float*)vp + b * kvBatchStride + g * headDim, (kvLen - 1) * kvDim + headDim);
            var os = new Span<float>((float*)op + (long)b * seq * qDim + h * headDim, (seq - 1) * qDim + headDim);
            var rented = ArrayPool<float>.Shared.Rent(Math.Min(seq, QueryBlock) * kvLen);
            try
            {
                // Queries in blocks, each against only the keys it can see: about half the work of a full seq×kvLen.
                for (var i0 = 0; i0 < seq; i0 += QueryBlock)
                {
                    var rows = Math.Min(QueryBlock, seq - i0);
                    var kHi = start + i0 + rows;                                   // keys [kLo, kHi) are visible to the block
                    var kLo = window is { } w0 ? Math.Max(0, start + i0 - w0 + 1) : 0;
                    var n = kHi - kLo;
                    var scores = rented.AsSpan(0, rows * n);
                    Gemm.Sgemm(false, true, rows, n, headDim, scale, qs[(i0 * qDim)..], qDim, ks[(kLo * kvDim)..], kvDim, 0f, scores, n);
                    for (var i = 0; i < rows; i++)
                    {
                        var pos = start + i0 + i;
                        var lo = (window is { } w ? Math.Max(0, pos - w + 1) : 0) - kLo;
                        var hi = pos - kLo;                                          // inclusive
                        var row = scores.Slice(i * n, n);
                        row[..lo].Clear();
                        Activations.Softmax(row[lo..(hi + 1)], row[lo..(hi + 1)], hi + 1 - lo);
                        row[(hi + 1)..].Clear();
                    }
                    Gemm.Sgemm(false, false, rows, headDim, n, 1f, scores, n, vs[(kLo * kvDim)..], kvDim, 0f, os[(i0 * qDim)..], qDim);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }
}
