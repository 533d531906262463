using Offload.Compression.Recipes;
using Offload.Model.Config;
using Offload.Protocol;
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

    private static RotationMatrix Materialize(string name, TransformType type, TransformInstance instance, string where)
    {
        var op = instance.Entry.Operator;
        var n = op.Size;
        var a = op.ToDense();
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
        return new RotationMatrix(name, type, n, a, invT, seed);
    }
}
