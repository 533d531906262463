using Offload.Compression.Lifecycle;
using Offload.Model.Naming;
using Offload.Tensors;
using Offload.Transforms.Apply;

namespace Offload.Compression.Fusion;

/// <summary>
/// The offline choice for a LoRA adapter: W' = W + scale·B·A, computed in f64 and rounded once to W's dtype. Runs
/// before rotation and quantization (`--merge-lora`), so later steps see the merged weights.
/// </summary>
public static class LoraMerge
{
    /// <summary>Merges every module of <paramref name="adapter"/> into <paramref name="store"/>.</summary>
    public static void Merge(ParameterStore store, LoraAdapter adapter)
    {
        foreach (var m in adapter.Modules)
        {
            var name = ModuleNames.Weight(m.Module);
            if (!store.Contains(name))
                throw new LoraException($"{adapter.Directory}: adapter module '{m.Module}' has no weight '{name}' in the model; use the adapter's base model");
            using var w = store.Get(name);
            if (w.Rank != 2 || w.Dim(0) != m.Out || w.Dim(1) != m.In)
                throw new LoraException($"{adapter.Directory}: '{m.Module}' is [{w.Dim(0)}, {(w.Rank > 1 ? w.Dim(1) : 0)}] in the model but the adapter gives B·A [{m.Out}, {m.In}]; use the adapter's base model");
            var merged = MergeOne(w.ToDoubleArray(), m.A.ToDoubleArray(), m.B.ToDoubleArray(), m.Out, m.In, m.Rank, adapter.Scale);
            var t = Tensor.Zeros(w.DType, w.Shape.ToArray());
            FloatRounding.Write(merged, t);
            store.Set(name, t);
        }
    }

    /// <summary>W + scale·B·A in f64. w: [out, in], a: [r, in], b: [out, r]; returns a new [out, in] array.</summary>
    public static double[] MergeOne(ReadOnlySpan<double> w, ReadOnlySpan<double> a, ReadOnlySpan<double> b, int rows, int cols, int rank, double scale)
    {
        var result = w.ToArray();
        Offload.Tensors.Kernels.Gemm.Dgemm(false, false, rows, cols, rank, scale, b, rank, a, cols, 1.0, result, cols);
        return result;
    }
}
