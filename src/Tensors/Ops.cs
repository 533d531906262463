using Offload.Protocol;
using Offload.Tensors.Kernels;

namespace Offload.Tensors;

/// <summary>
/// Tensor-level operations over the kernels (f32 compute; weights of other float dtypes are converted). Every result
/// is a new native tensor that the caller disposes. The span kernels behind them (<see cref="Gemm"/>,
/// <see cref="Activations"/>, <see cref="Normalization"/>) are there for in-place and allocation-free use.
/// </summary>
public static class Ops
{
    /// <summary>y = x · Wᵀ (+ bias). x: [tokens, in] f32 (or [..., in]), w: [out, in] any float dtype, bias: [out] → y: [tokens, out] f32.
    /// An f32 weight is read in place (no copy); the bias is laid down first and the GEMM adds to it.</summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? bias = null)
    {
        if (x.DType != DType.F32) throw new ArgumentException($"Linear expects f32 activations, got {x.DType}");
        var inF = checked((int)x.Dim(-1));
        var tokens = inF == 0 ? 0 : checked((int)(x.ElementCount / inF));
        if (w.Rank != 2 || w.Dim(1) != inF) throw new ArgumentException($"weight [{string.Join(", ", w.Shape.ToArray())}] does not take inputs of width {inF}");
        var outF = checked((int)w.Dim(0));
        if (bias is not null && bias.ElementCount != outF) throw new ArgumentException($"bias has {bias.ElementCount} values for {outF} outputs");
        var wf = w.DType == DType.F32 ? w.Share() : w.To(DType.F32);
        var y = Tensor.Empty(DType.F32, tokens, outF);
        try
        {
            var beta = 0f;
            if (bias is not null)
            {
                var b = bias.ToFloatArray();
                var ys = y.Span<float>();
                for (var t = 0; t < tokens; t++) b.CopyTo(ys.Slice(t * outF, outF));
                beta = 1f;
            }
            Gemm.Sgemm(false, true, tokens, outF, inF, 1f, x.ReadOnlySpan<float>(), inF, wf.ReadOnlySpan<float>(), inF, beta, y.Span<float>(), outF);
            return y;
        }
        catch
        {
            y.Dispose();
            throw;
        }
        finally
        {
            wf.Dispose();
        }
    }

    /// <summary>C = op(A)·op(B) for 2-D f32 tensors. A: [m,k] (or [k,m] with transA), B: [k,n] (or [n,k] with transB) → [m,n].</summary>
    public static Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        var (m, n, _) = MatMulShape(a, b, transA, transB);
        var c = Tensor.Empty(DType.F32, m, n);
        try
        {
            MatMulInto(a, b, c, transA, transB);
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    /// <summary>c = op(A)·op(B) into an existing [m,n] f32 tensor (no allocation). Shapes as in <see cref="MatMul"/>.</summary>
    public static void MatMulInto(Tensor a, Tensor b, Tensor c, bool transA = false, bool transB = false)
    {
        var (m, n, k) = MatMulShape(a, b, transA, transB);
        if (c.DType != DType.F32 || c.Rank != 2 || c.Dim(0) != m || c.Dim(1) != n)
            throw new ArgumentException($"output {c} is not [{m}, {n}] f32");
        Gemm.Sgemm(transA, transB, m, n, k, 1f, a.ReadOnlySpan<float>(), checked((int)a.Dim(1)), b.ReadOnlySpan<float>(), checked((int)b.Dim(1)), 0f, c.Span<float>(), n);
    }

    /// <summary>
    /// Batched matmul of f32 tensors: A: [batch, m, k] (or [batch, k, m] with transA), B: [batch, k, n] (or [batch, n, k]
    /// with transB) or a 2-D B shared by every batch entry → [batch, m, n].
    /// </summary>
    public static Tensor BatchedMatMul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        if (a.DType != DType.F32 || b.DType != DType.F32 || a.Rank != 3 || b.Rank is not (2 or 3))
            throw new ArgumentException("BatchedMatMul takes a 3-D f32 A and a 2-D or 3-D f32 B");
        var batch = checked((int)a.Dim(0));
        var shared = b.Rank == 2;
        if (!shared && b.Dim(0) != batch) throw new ArgumentException($"batch sizes differ: {batch} vs {b.Dim(0)}");
        var m = checked((int)(transA ? a.Dim(2) : a.Dim(1)));
        var k = checked((int)(transA ? a.Dim(1) : a.Dim(2)));
        var kb = checked((int)(transB ? b.Dim(-1) : b.Dim(-2)));
        var n = checked((int)(transB ? b.Dim(-2) : b.Dim(-1)));
        if (k != kb) throw new ArgumentException($"inner dimensions differ: {k} vs {kb}");
        var c = Tensor.Empty(DType.F32, batch, m, n);
        try
        {
            Gemm.SgemmBatched(transA, transB, m, n, k, 1f,
                a.ReadOnlySpan<float>(), checked((int)a.Dim(2)), a.Dim(1) * a.Dim(2),
                b.ReadOnlySpan<float>(), checked((int)b.Dim(-1)), shared ? 0 : b.Dim(1) * b.Dim(2),
                0f, c.Span<float>(), n, (long)m * n, batch);
            return c;
        }
        catch
        {
            c.Dispose();
            throw;
        }
    }

    /// <summary>RMSNorm over the last dimension. x: [..., hidden] f32, weight: [hidden] any float dtype → [..., hidden] f32.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor weight, float eps)
    {
        CheckF32(x, nameof(RmsNorm));
        if (weight.ElementCount != x.Dim(-1)) throw new ArgumentException($"RMSNorm weight has {weight.ElementCount} values for rows of {x.Dim(-1)}");
        var w = weight.ToFloatArray();
        var y = Tensor.Empty(DType.F32, x.Shape.ToArray());
        Normalization.RmsNorm(x.ReadOnlySpan<float>(), w, eps, y.Span<float>(), checked((int)x.Dim(-1)));
        return y;
    }

    /// <summary>Softmax over the last dimension (numerically stable). x: [..., n] f32 → [..., n] f32.</summary>
    public static Tensor Softmax(Tensor x)
    {
        CheckF32(x, nameof(Softmax));
        var y = Tensor.Empty(DType.F32, x.Shape.ToArray());
        Activations.Softmax(x.ReadOnlySpan<float>(), y.Span<float>(), checked((int)x.Dim(-1)));
        return y;
    }

    /// <summary>SiLU, element-wise. x: any shape f32 → same shape f32.</summary>
    public static Tensor Silu(Tensor x)
    {
        CheckF32(x, nameof(Silu));
        var y = Tensor.Empty(DType.F32, x.Shape.ToArray());
        Activations.Silu(x.ReadOnlySpan<float>(), y.Span<float>());
        return y;
    }

    /// <summary>silu(gate)·up, element-wise. gate, up: [tokens, intermediate] f32 → [tokens, intermediate] f32.</summary>
    public static Tensor SwiGlu(Tensor gate, Tensor up)
    {
        CheckF32(gate, nameof(SwiGlu));
        CheckF32(up, nameof(SwiGlu));
        CheckSameShape(gate, up);
        var y = Tensor.Empty(DType.F32, gate.Shape.ToArray());
        Activations.SwiGlu(gate.ReadOnlySpan<float>(), up.ReadOnlySpan<float>(), y.Span<float>());
        return y;
    }

    /// <summary>a + b, element-wise (e.g. the residual add). Same shape, f32.</summary>
    public static Tensor Add(Tensor a, Tensor b)
    {
        CheckF32(a, nameof(Add));
        CheckF32(b, nameof(Add));
        CheckSameShape(a, b);
        var y = Tensor.Empty(DType.F32, a.Shape.ToArray());
        System.Numerics.Tensors.TensorPrimitives.Add(a.ReadOnlySpan<float>(), b.ReadOnlySpan<float>(), y.Span<float>());
        return y;
    }

    /// <summary>a · b, element-wise. Same shape, f32.</summary>
    public static Tensor Multiply(Tensor a, Tensor b)
    {
        CheckF32(a, nameof(Multiply));
        CheckF32(b, nameof(Multiply));
        CheckSameShape(a, b);
        var y = Tensor.Empty(DType.F32, a.Shape.ToArray());
        System.Numerics.Tensors.TensorPrimitives.Multiply(a.ReadOnlySpan<float>(), b.ReadOnlySpan<float>(), y.Span<float>());
        return y;
    }

    private static (int M, int N, int K) MatMulShape(Tensor a, Tensor b, bool transA, bool transB)
    {
        if (a.DType != DType.F32 || b.DType != DType.F32 || a.Rank != 2 || b.Rank != 2) throw new ArgumentException("MatMul takes 2-D f32 tensors");
        var m = checked((int)(transA ? a.Dim(1) : a.Dim(0)));
        var k = checked((int)(transA ? a.Dim(0) : a.Dim(1)));
        var kb = checked((int)(transB ? b.Dim(1) : b.Dim(0)));
        var n = checked((int)(transB ? b.Dim(0) : b.Dim(1)));
        if (k != kb) throw new ArgumentException($"inner dimensions differ: {k} vs {kb}");
        return (m, n, k);
    }

    private static void CheckF32(Tensor x, string op)
    {
        if (x.DType != DType.F32) throw new ArgumentException($"{op} expects f32, got {x.DType}");
        if (x.Rank == 0) throw new ArgumentException($"{op} needs at least one dimension");
    }

    private static void CheckSameShape(Tensor a, Tensor b)
    {
        if (!a.Shape.SequenceEqual(b.Shape))
            throw new ArgumentException($"shapes differ: [{string.Join(", ", a.Shape.ToArray())}] vs [{string.Join(", ", b.Shape.ToArray())}]");
    }
}
