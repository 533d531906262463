using Offload.Compression.Lifecycle;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Tensors;

namespace Offload.Compression.Fusion;

/// <summary>
/// Export layout fusion by explicit path patterns (default: none, Hugging Face names). <see cref="Fuse"/> renames and
/// concatenates tensors for the writer; <see cref="BuildFusedModel"/> gives the runtime's forward the fused weights, so
/// each layer runs one GEMM for q/k/v and one for gate/up instead of three and two.
/// </summary>
public static class LayoutFusion
{
    /// <summary>
    /// The tensors of <paramref name="named"/> with every rule applied: for each matching parent, parts' weights (and
    /// biases, when all parts have one) concatenated row-wise under parent.fused. Unmatched tensors pass unchanged.
    /// The returned tensors are new (concatenations) or shared references; the caller disposes them.
    /// </summary>
    public static IReadOnlyList<(string Name, Tensor Tensor)> Fuse(IReadOnlyList<(string Name, Tensor Tensor)> named, IReadOnlyList<LayoutRule> rules)
    {
        var byName = named.ToDictionary(n => n.Name, n => n.Tensor, StringComparer.Ordinal);
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        var fused = new List<(string, Tensor)>();
        var parents = named.Select(n => n.Name).Where(n => n.EndsWith(".weight", StringComparison.Ordinal))
            .Select(n => n[..n.LastIndexOf('.')]).Select(m => m.Contains('.') ? m[..m.LastIndexOf('.')] : m).Distinct().ToArray();
        foreach (var parent in parents)
        {
            foreach (var rule in rules.Where(r => r.Matches(parent)))
            {
                foreach (var suffix in new[] { ".weight", ".bias" })
                {
                    var parts = rule.Parts.Select(p => $"{parent}.{p}{suffix}").ToArray();
                    if (!parts.All(byName.ContainsKey)) continue;
                    fused.Add(($"{parent}.{rule.Fused}{suffix}", ConcatRows(parts.Select(p => byName[p]).ToArray())));
                    consumed.UnionWith(parts);
                }
            }
        }
        var result = new List<(string, Tensor)>();
        foreach (var (name, t) in named)
            if (!consumed.Contains(name)) result.Add((name, t.Share()));
        result.AddRange(fused);
        return result;
    }

    /// <summary>Writes <paramref name="store"/>'s tensors with <paramref name="rules"/> applied to <paramref name="path"/> (temp name, then rename).</summary>
    public static void WriteFused(ParameterStore store, string path, IReadOnlyList<LayoutRule> rules)
    {
        var named = store.Names.Select(n => (n, store.Get(n))).ToArray();
        var fused = Fuse(named, rules);
        try
        {
            var temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
            SafetensorsWriter.WriteFile(temp, fused);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            foreach (var (_, t) in named) t.Dispose();
            foreach (var (_, t) in fused) t.Dispose();
        }
    }

    /// <summary>
    /// A model over <paramref name="store"/> whose layers hold the fused qkv_proj / gate_up_proj weights (copies
    /// concatenated row-wise) and run one GEMM for each group. The per-projection weights stay for the other paths.
    /// </summary>
    public static CausalLM BuildFusedModel(ParameterStore store)
    {
        var model = store.BuildModel();
        if (model.Layers is not ResidentLayerSource resident) return model;
        var layers = new List<DecoderLayer>();
        foreach (var old in resident.Layers)
        {
            var w = old.Weights;
            var fused = new DecoderLayerWeights
            {
                InputLayerNorm = w.InputLayerNorm.Share(), QProj = w.QProj.Share(), KProj = w.KProj.Share(), VProj = w.VProj.Share(),
                OProj = w.OProj.Share(), PostAttentionLayerNorm = w.PostAttentionLayerNorm.Share(), GateProj = w.GateProj.Share(),
                UpProj = w.UpProj.Share(), DownProj = w.DownProj.Share(),
                QBias = w.QBias?.Share(), KBias = w.KBias?.Share(), VBias = w.VBias?.Share(), OBias = w.OBias?.Share(),
                GateBias = w.GateBias?.Share(), UpBias = w.UpBias?.Share(), DownBias = w.DownBias?.Share(),
                QNorm = w.QNorm?.Share(), KNorm = w.KNorm?.Share(),
                QkvProj = ConcatRows([w.QProj, w.KProj, w.VProj]),
                QkvBias = w.QBias is null || w.KBias is null || w.VBias is null ? null : ConcatRows([w.QBias, w.KBias, w.VBias]),
                GateUpProj = ConcatRows([w.GateProj, w.UpProj]),
                GateUpBias = w.GateBias is null || w.UpBias is null ? null : ConcatRows([w.GateBias, w.UpBias]),
            };
            layers.Add(new DecoderLayer(store.Config, old.Index, fused, new RotaryEmbedding(store.Config)) { Hooks = old.Hooks, Adapters = old.Adapters });
        }
        var result = new CausalLM(store.Config, model.Embedding, new ResidentLayerSource(layers), model.Head, owned: resident);
        return result;
    }

    /// <summary>Row-wise concatenation of same-dtype tensors with equal trailing dimensions. parts: [rows_i, ...] → [Σrows_i, ...]</summary>
    public static Tensor ConcatRows(IReadOnlyList<Tensor> parts)
    {
        var dtype = parts[0].DType;
        var shape = parts[0].Shape.ToArray();
        long rows = 0;
        foreach (var p in parts)
        {
            if (p.DType != dtype || p.Rank != shape.Length || !p.Shape[1..].SequenceEqual(shape.AsSpan(1)))
                throw new ArgumentException($"cannot concatenate {p} with {parts[0]} row-wise");
            rows += p.Dim(0);
        }
        shape[0] = rows;
        var result = Tensor.Zeros(dtype, shape);
        var elementSize = parts[0].ElementCount == 0 ? 0 : parts[0].ByteLength / parts[0].ElementCount;
        switch (elementSize)
        {
            case 8: Copy<double>(parts, result); break;
            case 4: Copy<float>(parts, result); break;
            case 2: Copy<ushort>(parts, result); break;
            default: Copy<byte>(parts, result); break;
        }
        return result;
    }

    private static void Copy<T>(IReadOnlyList<Tensor> parts, Tensor result) where T : unmanaged
    {
        var dst = result.Span<T>();
        var offset = 0;
        foreach (var p in parts)
        {
            var src = p.ReadOnlySpan<T>();
            src.CopyTo(dst[offset..]);
            offset += src.Length;
        }
    }
}
