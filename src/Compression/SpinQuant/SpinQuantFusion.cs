using Offload.Compression.Lifecycle;
using Offload.Compression.Sequential;
using Offload.Model.Naming;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Transforms.Apply;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// The offline half of SpinQuant on one part of the model, computed in f64 and rounded once to each weight's dtype:
/// fold RMSNorm weights into the linears that read them (norm → ones), then R1 (o/down outputs; q/k/v/up/gate inputs),
/// R2 per head (v output + bias, o input), the fused inverse half of R4 (down input). <see cref="FuseLayer"/> works on
/// one layer through its <see cref="ILayerContext"/> with the matrices of that layer's device cache;
/// <see cref="FuseEnds"/> does the embedding, final norm and lm_head.
/// </summary>
public static class SpinQuantFusion
{
    /// <summary>Fuses plan's rotations into layer <paramref name="context"/>.LayerIndex.</summary>
    public static void FuseLayer(SpinQuantPlan plan, ILayerContext context)
    {
        var work = new Work(context.GetParameter);
        var names = context.ParameterNames;
        var modules = names.Where(n => n.EndsWith(".weight", StringComparison.Ordinal)).Select(n => n[..^".weight".Length]).ToArray();
        var m = plan.Mappings;
        var leased = new List<TransformCacheKey>();
        try
        {
            // norm folding (spec §5.4c)
            foreach (var nm in plan.NormMappings)
            {
                foreach (var norm in modules.Where(x => TargetMatcher.MatchName(x, nm.Norm)))
                {
                    var g = work.Get(norm + ".weight");
                    foreach (var lin in modules.Where(x => x != norm && nm.Linears.Any(t => TargetMatcher.MatchName(x, t))))
                    {
                        var w = work.Get(lin + ".weight");
                        RotationFusion.ScaleColumns(w.Data, w.Rows, w.Cols, g.Data);
                    }
                    Array.Fill(g.Data, 1.0);
                }
            }
            bool Is(string module, string target) => TargetMatcher.MatchName(module, target);
            bool IsAny(string module, IReadOnlyList<string> targets) => targets.Any(t => Is(module, t));
            if (plan.R1 is { } r1)
            {
                var fwd = Lease(context.Transforms, r1, inverseTransposed: false, leased);
                var inv = Lease(context.Transforms, r1, inverseTransposed: true, leased);
                foreach (var mod in modules)
                {
                    if (Is(mod, m.AttnO) || IsAny(mod, m.MlpOut)) WeightOutput(work, names, mod, fwd, r1.Size);
                    else if (Is(mod, m.AttnQ) || Is(mod, m.AttnK) || Is(mod, m.AttnV) || IsAny(mod, m.MlpIn)) WeightInput(work, mod, inv, r1.Size);
                }
            }
            if (plan.R2 is { } r2)
            {
                var fwd = Lease(context.Transforms, r2, inverseTransposed: false, leased);
                var inv = Lease(context.Transforms, r2, inverseTransposed: true, leased);
                foreach (var mod in modules)
                {
                    if (Is(mod, m.AttnV)) WeightOutput(work, names, mod, fwd, r2.Size);
                    else if (Is(mod, m.AttnO)) WeightInput(work, mod, inv, r2.Size);
                }
            }
            if (plan.R4 is { } r4)
            {
                var inv = Lease(context.Transforms, r4, inverseTransposed: true, leased);
                foreach (var mod in modules.Where(x => IsAny(x, m.MlpOut))) WeightInput(work, mod, inv, r4.Size);
            }
        }
        finally
        {
            foreach (var key in leased) context.Transforms.Release(key);
        }
        foreach (var (name, t) in work.Results()) context.ReplaceParameter(name, t);
    }

    /// <summary>Untie, optional centering, R1 on the embedding, final norm folded into lm_head, R1 inverse on lm_head.</summary>
    public static void FuseEnds(SpinQuantPlan plan, IModelContext model)
    {
        var embedName = ModuleNames.Weight(ModuleNames.EmbedTokens);
        var headName = ModuleNames.Weight(ModuleNames.LmHead);
        if (model.TiedEmbeddings)
        {
            using var e = model.GetParameter(embedName);
            model.Untie(e.Clone());
        }
        var work = new Work(model.GetParameter);
        var embed = work.Get(embedName);
        if (plan.Spec.CenterEmbeddings)
        {
            for (var r = 0; r < embed.Rows; r++)
            {
                var row = embed.Data.AsSpan(r * embed.Cols, embed.Cols);
                var mean = 0.0;
                foreach (var v in row) mean += v;
                mean /= embed.Cols;
                for (var j = 0; j < row.Length; j++) row[j] -= mean;
            }
        }
        var modules = model.ParameterNames.Where(n => n.EndsWith(".weight", StringComparison.Ordinal)).Select(n => n[..^".weight".Length]).ToArray();
        foreach (var nm in plan.NormMappings)
        {
            foreach (var norm in modules.Where(x => TargetMatcher.MatchName(x, nm.Norm)))
            {
                var g = work.Get(norm + ".weight");
                foreach (var lin in modules.Where(x => x != norm && nm.Linears.Any(t => TargetMatcher.MatchName(x, t))))
                {
                    var w = work.Get(lin + ".weight");
                    RotationFusion.ScaleColumns(w.Data, w.Rows, w.Cols, g.Data);
                }
                Array.Fill(g.Data, 1.0);
            }
        }
        if (plan.R1 is { } r1)
        {
            RotationFusion.RightBlocks(embed.Data, embed.Rows, embed.Cols, r1.Forward, r1.Size);               // E ← E·B₁
            var head = work.Get(headName);
            RotationFusion.RightBlocks(head.Data, head.Rows, head.Cols, r1.InverseTransposed, r1.Size);        // W ← W·B₁⁻ᵀ
        }
        foreach (var (name, t) in work.Results()) model.SetParameter(name, t);
    }

    /// <summary>
    /// Takes one reference on every matrix <see cref="FuseLayer"/> leases from <paramref name="cache"/> and keeps them
    /// until disposed: the layers a device fuses one after another then share one copy (cache hits) instead of
    /// creating and freeing it per layer.
    /// </summary>
    public static IDisposable Hold(SpinQuantPlan plan, ISharedTransformCache cache)
    {
        var leased = new List<TransformCacheKey>();
        if (plan.R1 is { } r1)
        {
            Lease(cache, r1, inverseTransposed: false, leased, copy: false);
            Lease(cache, r1, inverseTransposed: true, leased, copy: false);
        }
        if (plan.R2 is { } r2)
        {
            Lease(cache, r2, inverseTransposed: false, leased, copy: false);
            Lease(cache, r2, inverseTransposed: true, leased, copy: false);
        }
        if (plan.R4 is { } r4) Lease(cache, r4, inverseTransposed: true, leased, copy: false);
        return new Held(cache, leased);
    }

    private sealed class Held(ISharedTransformCache cache, List<TransformCacheKey> keys) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            foreach (var key in keys) cache.Release(key);
        }
    }

    private static double[] Lease(ISharedTransformCache cache, RotationMatrix r, bool inverseTransposed, List<TransformCacheKey> leased, bool copy = true)
    {
        var key = new TransformCacheKey($"spinquant-{r.Name}-{r.Type}{(inverseTransposed ? "-invT" : "")}", r.Size, DType.F64, cache.Device, r.Seed);
        var source = inverseTransposed ? r.InverseTransposed : r.Forward;
        var t = cache.Acquire(key, () => Tensor.FromArray(source, r.Size, r.Size));
        leased.Add(key);
        return copy ? t.ReadOnlySpan<double>().ToArray() : [];
    }

    // Linear weight_output: W ← Bᵀ·W, b ← Bᵀ·b.
    private static void WeightOutput(Work work, IReadOnlyList<string> names, string module, double[] a, int n)
    {
        var w = work.Get(module + ".weight");
        RotationFusion.LeftBlocksTransposed(w.Data, w.Rows, w.Cols, a, n);
        var bias = module + ".bias";
        if (names.Contains(bias))
        {
            var b = work.Get(bias);
            RotationFusion.LeftBlocksTransposed(b.Data, b.Data.Length, 1, a, n);
        }
    }

    // Linear weight_input (inverse): W ← W·(B⁻¹)ᵀ = W·blockdiag(A⁻ᵀ).
    private static void WeightInput(Work work, string module, double[] invT, int n)
    {
        var w = work.Get(module + ".weight");
        RotationFusion.RightBlocks(w.Data, w.Rows, w.Cols, invT, n);
    }

    /// <summary>Parameters read once into f64, edited, and written back rounded once to their dtype.</summary>
    private sealed class Work(Func<string, Tensor> get)
    {
        private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

        public Entry Get(string name)
        {
            if (_entries.TryGetValue(name, out var e)) return e;
            using var t = get(name);
            var rows = checked((int)t.Dim(0));
            var cols = t.Rank == 1 ? 1 : checked((int)(t.ElementCount / rows));
            if (t.Rank == 1) { cols = rows; rows = 1; }
            e = new Entry(t.ToDoubleArray(), rows, cols, t.DType, t.Shape.ToArray());
            _entries[name] = e;
            return e;
        }

        public IEnumerable<(string, Tensor)> Results()
        {
            foreach (var (name, e) in _entries)
            {
                var t = Tensor.Zeros(e.DType, e.Shape);
                FloatRounding.Write(e.Data, t);
                yield return (name, t);
            }
        }
    }

    private sealed record Entry(double[] Data, int Rows, int Cols, DType DType, long[] Shape);
}
