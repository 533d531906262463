using Offload.Protocol;
using Offload.Tensors.Kernels;

namespace Offload.Tensors;

/// <summary>Tensor-level operations over the kernels (f32 compute; inputs of other float dtypes are converted).</summary>
public static class Ops
{
    /// <summary>y = x · Wᵀ (+ bias). x: [tokens, in] f32, w: [out, in] any float dtype, bias: [out] → y: [tokens, out] f32.</summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? bias = null)
    {
        if (x.DType != DType.F32) throw new ArgumentException($"Linear expects f32 activations, got {x.DType}");
        var tokens = checked((int)(x.ElementCount / x.Dim(-1)));
        var inF = checked((int)x.Dim(-1));
        if (w.Rank != 2 || w.Dim(1) != inF) throw new ArgumentException($"weight [{string.Join(", ", w.Shape.ToArray())}] does not take inputs of width {inF}");
        var outF = checked((int)w.Dim(0));
        var wf = w.DType == DType.F32 ? w.Share() : w.To(DType.F32);
        try
        {
            var y = Tensor.Empty(DType.F32, tokens, outF);
            Gemm.Sgemm(false, true, tokens, outF, inF, 1f, x.ReadOnlySpan<float>(), inF, wf.ReadOnlySpan<float>(), inF, 0f, y.Span<float>(), outF);
            if (bias is not null)
            {
                var b = bias.ToFloatArray();
                var ys = y.Span<float>();
                for (var t = 0; t < tokens; t++)
                    System.Numerics.Tensors.TensorPrimitives.Add(ys.Slice(t * outF, outF), b, ys.Slice(t * outF, outF));
            }
            return y;
        }
        finally
        {
            wf.Dispose();
        }
    }

    /// <summary>C = op(A)·op(B) for 2-D f32 tensors. A: [m,k] (or [k,m] with transA), B: [k,n] (or [n,k] with transB) → [m,n].</summary>
    public static Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        if (a.DType != DType.F32 || b.DType != DType.F32 || a.Rank != 2 || b.Rank != 2) throw new ArgumentException("MatMul takes 2-D f32 tensors");
        var m = checked((int)(transA ? a.Dim(1) : a.Dim(0)));
        var k = checked((int)(transA ? a.Dim(0) : a.Dim(1)));
        var kb = checked((int)(transB ? b.Dim(1) : b.Dim(0)));
        var n = checked((int)(transB ? b.Dim(0) : b.Dim(1)));
        if (k != kb) throw new ArgumentException($"inner dimensions differ: {k} vs {kb}");
        var c = Tensor.Empty(DType.F32, m, n);
        Gemm.Sgemm(transA, transB, m, n, k, 1f, a.ReadOnlySpan<float>(), checked((int)a.Dim(1)), b.ReadOnlySpan<float>(), checked((int)b.Dim(1)), 0f, c.Span<float>(), n);
        return c;
    }
}
