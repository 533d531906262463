using Offload.Compression.Recipes;
using Offload.Model.Config;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Transforms;
using Offload.Transforms.Apply;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// What SpinQuantModifier decides at initialize, once, before any layer is touched: the mappings, the transform_config
/// it records (groups R1..R4 in that order, spec §5.2/§5.5) and each rotation's matrix, drawn by the Transforms
/// factories exactly as compressed-tensors would (a fresh factory per group, default seed). Layer shards then build
/// their device copies of these matrices in their own transform caches.
/// </summary>
public sealed class SpinQuantPlan
{
    private SpinQuantPlan(SpinQuantModifierSpec spec, LlamaConfig config, SpinQuantMappings mappings, IReadOnlyList<NormMapping> norms,
        TransformConfig transformConfig, IReadOnlyDictionary<string, RotationMatrix> rotations)
    {
        Spec = spec;
        Config = config;
        Mappings = mappings;
        NormMappings = norms;
        TransformConfig = transformConfig;
        Rotations = rotations;
    }

    public SpinQuantModifierSpec Spec { get; }
    public LlamaConfig Config { get; }
    public SpinQuantMappings Mappings { get; }
    public IReadOnlyList<NormMapping> NormMappings { get; }

    /// <summary>The groups to record in the output's transform_config (fused ones included, gotcha G3).</summary>
    public TransformConfig TransformConfig { get; }

    /// <summary>The matrices by rotation name ("R1".."R4"), only the requested ones.</summary>
    public IReadOnlyDictionary<string, RotationMatrix> Rotations { get; }

    public RotationMatrix? R1 => Rotations.GetValueOrDefault("R1");
    public RotationMatrix? R2 => Rotations.GetValueOrDefault("R2");
    public RotationMatrix? R3 => Rotations.GetValueOrDefault("R3");
    public RotationMatrix? R4 => Rotations.GetValueOrDefault("R4");

    /// <summary>Plans the rotations of <paramref name="spec"/> for a model of <paramref name="config"/>.</summary>
    public static SpinQuantPlan Create(SpinQuantModifierSpec spec, LlamaConfig config)
    {
        var where = $"{spec.Location} SpinQuantModifier";
        if (spec.TransformConfig is not null)
            throw new SpinQuantException($"{where}: an explicit transform_config is parsed but not applied by this build; remove it and use rotations/transform_type");
        CheckSizes(spec, config);
        var mappings = spec.Mappings ?? SpinQuantMappings.For(config.Architecture);
        var norms = spec.NormMappings ?? NormMapping.Defaults(config.Architecture);
        if (!spec.TransformType.IsHadamard() && spec.TransformType != TransformType.RandomOrthogonal)
        {
            foreach (var r in spec.Rotations)
            {
                if (r is "R1" or "R3")
                    throw new SpinQuantException($"{where}: transform_type {spec.TransformType.ToWireName()} is not orthogonal, so {r} (through RMSNorm / q·kᵀ) would change the model; use hadamard, random-hadamard or random-orthogonal, or rotations R2/R4 only");
            }
        }
        var block = spec.TransformBlockSize;
        var head = config.HeadDim;
        var lin = new[] { mappings.AttnQ, mappings.AttnK, mappings.AttnV };
        var groups = new List<TransformGroup>();
        var probes = new Dictionary<string, (TransformTarget Target, TransformArgs Args)>();
        foreach (var name in spec.Rotations.Order(StringComparer.Ordinal))
        {
            TransformScheme scheme;
            switch (name)
            {
                case "R1":
                {
                    var outputs = new TransformArgs([mappings.Embedding, mappings.AttnO, .. mappings.MlpOut], TransformLocation.WeightOutput);
                    var inputs = new TransformArgs([.. lin, .. mappings.MlpIn, mappings.LmHead], TransformLocation.WeightInput, inverse: true);
                    scheme = new TransformScheme(spec.TransformType, [outputs, inputs], headDim: block, precision: spec.Precision);
                    probes[name] = (TransformTarget.Embedding("model.embed_tokens", config.VocabSize, config.HiddenSize), outputs);
                    break;
                }
                case "R2":
                {
                    var v = new TransformArgs([mappings.AttnV], TransformLocation.WeightOutput);
                    var o = new TransformArgs([mappings.AttnO], TransformLocation.WeightInput, inverse: true);
                    scheme = new TransformScheme(spec.TransformType, [v, o], headDim: head, precision: spec.Precision);
                    probes[name] = (TransformTarget.Linear("model.layers.0.self_attn.v_proj", config.HiddenSize, config.KvDim), v);
                    break;
                }
                case "R3":
                {
                    var q = new TransformArgs([mappings.Attn], TransformLocation.QAttn);
                    var k = new TransformArgs([mappings.Attn], TransformLocation.KCache);
                    scheme = new TransformScheme(spec.TransformType, [q, k], headDim: head, precision: spec.Precision);
                    probes[name] = (TransformTarget.Attention("model.layers.0.self_attn"), q);
                    break;
                }
                default:
                {
                    var input = new TransformArgs([.. mappings.MlpOut], TransformLocation.Input);
                    var fused = new TransformArgs([.. mappings.MlpOut], TransformLocation.WeightInput, inverse: true);
                    scheme = new TransformScheme(spec.TransformType, [input, fused], headDim: block, precision: spec.Precision);
                    probes[name] = (TransformTarget.Linear("model.layers.0.mlp.down_proj", config.IntermediateSize, config.HiddenSize), input);
                    break;
                }
            }
            groups.Add(new TransformGroup(name, scheme));
        }
        var transformConfig = new TransformConfig(groups);
        var rotations = new Dictionary<string, RotationMatrix>(StringComparer.Ordinal);
        using var caches = new TransformCaches();
        foreach (var g in groups)
        {
            var factory = new TransformFactory(g.Name, g.Scheme, caches);
            var (target, args) = probes[g.Name];
            using var instance = factory.Create(target, args, DeviceId.Host);
            rotations[g.Name] = Materialize(g.Name, spec.TransformType, instance, where);
        }
        return new SpinQuantPlan(spec, config, mappings, norms, transformConfig, rotations);
    }

    /// <summary>
    /// The online transforms' weights as llm-compressor's state dict saves them (spec §3.6): one tensor per online
    /// rotation, shared by every module and so written once, under the first module's name —
    /// "model.layers.0.self_attn.R3_q_attn.weight" (R3) and "model.layers.0.mlp.down_proj.R4_input.weight" (R4) — in the
    /// scheme's precision, [n, n], unnormalised. The names follow the default mappings (Llama-family modules).
    /// </summary>
    public IReadOnlyList<(string Name, Func<Tensor> Create)> OnlineWeights()
    {
        var list = new List<(string, Func<Tensor>)>();
        var layer0 = Model.Naming.ModuleNames.Layer(0);
        if (R3 is { } r3) list.Add(($"{layer0}.self_attn.R3_q_attn.weight", () => StoredTensor(r3)));
        if (R4 is { } r4) list.Add(($"{layer0}.mlp.down_proj.R4_input.weight", () => StoredTensor(r4)));
        return list;
    }

    private Tensor StoredTensor(RotationMatrix r)
    {
        using var f64 = Tensor.FromArray(r.Stored, r.Size, r.Size);
        return Spec.Precision == DType.F64 ? f64.Clone() : f64.To(Spec.Precision);
    }

    /// <summary>Each requested rotation's matrix size: R1 and R4 the block size or hidden / intermediate size, R2 and R3 head_dim.</summary>
    public static IReadOnlyList<(string Name, int Size, string What)> Sizes(SpinQuantModifierSpec spec, LlamaConfig config)
    {
        var sizes = new List<(string, int, string)>();
        foreach (var name in spec.Rotations.Order(StringComparer.Ordinal))
        {
            sizes.Add(name switch
            {
                "R1" => (name, spec.TransformBlockSize ?? config.HiddenSize, spec.TransformBlockSize is null ? "hidden_size" : "transform_block_size"),
                "R4" => (name, spec.TransformBlockSize ?? config.IntermediateSize, spec.TransformBlockSize is null ? "down_proj in_features" : "transform_block_size"),
                _ => (name, config.HeadDim, "head_dim"),
            });
        }
        return sizes;
    }

    /// <summary>
    /// Refuses, as llm-compressor does, transform_type hadamard at a size that is not a power of two (compressed-tensors
    /// builds the deterministic Hadamard by Sylvester's construction only), unless offload_kron_hadamard is set. Cheap:
    /// call it before any work.
    /// </summary>
    public static void CheckSizes(SpinQuantModifierSpec spec, LlamaConfig config)
    {
        if (spec.TransformType != TransformType.Hadamard || spec.KronHadamard) return;
        foreach (var (name, size, what) in Sizes(spec, config))
        {
            if (size > 0 && (size & (size - 1)) == 0) continue;
            var fix = "transform_type random-hadamard (compressed-tensors builds it from its bases)";
            if (name is "R1" or "R4")
            {
                var pow = size & -size;
                fix += pow > 1 ? $", or transform_block_size {pow} (a power of two that divides {size})" : ", or a transform_block_size that is a power of two";
            }
            throw new SpinQuantException(
                $"{spec.Location} SpinQuantModifier: {name} uses transform_type hadamard at size {size} ({what}), which is not a power of two; use {fix}, or offload_kron_hadamard: true for Offload's K·2^m Hadamard (that checkpoint then needs Offload to load)");
        }
    }

    private static RotationMatrix Materialize(string name, TransformType type, TransformInstance instance, string where)
    {
        var op = instance.Entry.Operator;
        var n = op.Size;
        var a = op.ToDense();
        var stored = (double[])a.Clone();
        var divisor = op.Divisor;
        for (var i = 0; i < a.Length; i++) a[i] /= divisor;
        double[] invT;
        if (type.IsHadamard() || type == TransformType.RandomOrthogonal)
        {
            invT = a; // orthogonal: A⁻ᵀ = A
        }
        else
        {
            var inv = MatrixInverse.Invert(a, n);
            invT = new double[n * n];
            for (var i = 0; i < n; i++)
                for (var j = 0; j < n; j++) invT[i * n + j] = inv[j * n + i];
        }
        var seed = instance.Key.Seed.GetHashCode();
        return new RotationMatrix(name, type, n, a, invT, seed) { Stored = stored };
    }
}
