using Offload.Protocol;
using Offload.Transforms.Apply;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;
using Offload.Transforms.Hadamard;
using Offload.Transforms.Random;

namespace Offload.Transforms;

/// <summary>
/// Creates the transforms of one scheme (one config group), as compressed-tensors' factories do: a fresh generator per
/// factory (torch's default seed unless set), one matrix per size drawn the first time that size is asked for (so the
/// order of <see cref="Create"/> calls — apply entries, then modules in model order — decides the random matrices),
/// one permutation per matrix when randomize is set. The matrices themselves live in the per-device
/// <see cref="TransformCache"/>s under (kind, size, dtype, device, seed), shared by every module on a device.
/// </summary>
public sealed class TransformFactory
{
    private readonly TransformCaches _caches;
    private readonly TransformFactoryOptions _options;
    private readonly Dictionary<int, (TransformOperator Op, TransformSeed Seed)> _matrices = new();
    private readonly Dictionary<TransformOperator, int[]> _permutations = new(ReferenceEqualityComparer.Instance);
    private readonly object _gate = new();

    public TransformFactory(string name, TransformScheme scheme, TransformCaches caches, TransformFactoryOptions? options = null)
    {
        Name = name;
        Scheme = scheme;
        _caches = caches;
        _options = options ?? TransformFactoryOptions.Default;
        Generator = new Mt19937(_options.Seed);
        if (scheme.RequiresGrad) throw new TransformConfigException($"transform group {name}: requires_grad (learnable transforms) is not supported; set it to false");
    }

    /// <summary>The group name ("R1", "v", …).</summary>
    public string Name { get; }

    /// <summary>The scheme this factory builds.</summary>
    public TransformScheme Scheme { get; }

    /// <summary>The factory's generator (its <see cref="Mt19937.Position"/> shows how much has been drawn).</summary>
    public Mt19937 Generator { get; }

    /// <summary>
    /// compressed-tensors' get_transform_size: Linear in_features for input/weight_input else out_features; Embedding
    /// num_embeddings for input/weight_input else embedding_dim; other modules need head_dim; a set head_dim must
    /// divide the size and replaces it.
    /// </summary>
    public int TransformSize(TransformTarget module, TransformArgs args)
    {
        long? size = module.Kind switch
        {
            TransformModuleKind.Linear or TransformModuleKind.Embedding =>
                args.Location is TransformLocation.Input or TransformLocation.WeightInput ? module.InFeatures : module.OutFeatures,
            _ => null,
        };
        if (Scheme.HeadDim is { } h)
        {
            if (size is { } s && s % h != 0)
                throw new TransformConfigException($"transform group {Name} on {module.Name} ({args.Location.ToWireName()}): head_dim {h} does not divide the size {s}; choose a block size that divides it");
            return h;
        }
        if (size is null)
            throw new TransformConfigException($"transform group {Name} on {module.Name} ({args.Location.ToWireName()}): a {module.Kind} module needs head_dim in the scheme");
        if (size > int.MaxValue) throw new TransformConfigException($"transform group {Name} on {module.Name}: size {size} is too large for one transform; set head_dim");
        return (int)size.Value;
    }

    /// <summary>The dimension the location transforms (the full width that blocks of <see cref="TransformSize"/> tile), or 0 when unknown.</summary>
    public static long TransformedDimension(TransformTarget module, TransformLocation location) => module.Kind switch
    {
        TransformModuleKind.Linear or TransformModuleKind.Embedding =>
            location is TransformLocation.Input or TransformLocation.WeightInput ? module.InFeatures : module.OutFeatures,
        _ => 0,
    };

    /// <summary>The transform of <paramref name="args"/> on <paramref name="module"/>, holding a lease on <paramref name="device"/>'s cache.</summary>
    public TransformInstance Create(TransformTarget module, TransformArgs args, DeviceId device)
    {
        if (!args.IsOnline && module.Kind is not (TransformModuleKind.Linear or TransformModuleKind.Embedding))
            throw new TransformConfigException($"transform group {Name} on {module.Name}: {args.Location.ToWireName()} fuses into Linear or Embedding weights only");
        var size = TransformSize(module, args);
        var context = $"transform group {Name} on {module.Name} ({args.Location.ToWireName()})";
        TransformOperator op;
        TransformSeed seed;
        int[]? perm = null;
        lock (_gate)
        {
            (op, seed) = MatrixFor(size, args.IsOnline, context);
            if (Scheme.Randomize && Scheme.Type.IsHadamard())
            {
                if (!_permutations.TryGetValue(op, out perm)) _permutations.Add(op, perm = DrawPermutation(size));
            }
        }
        var dtype = args.IsOnline ? Scheme.Precision : DType.F64;
        var key = new TransformKey(Scheme.Type, size, dtype, device, seed);
        return new TransformInstance(this, module, args, key, op, perm, _caches, _options);
    }

    /// <summary>The matrix for a size: drawn (random types) or built the first time the size is asked for.</summary>
    private (TransformOperator, TransformSeed) MatrixFor(int size, bool online, string context)
    {
        if (_matrices.TryGetValue(size, out var existing)) return existing;
        (TransformOperator, TransformSeed) created;
        switch (Scheme.Type)
        {
            case TransformType.Hadamard:
                created = (HadamardOperator.Deterministic(size, context), TransformSeed.None);
                break;
            case TransformType.RandomHadamard:
            {
                var k = HadamardSizes.LibraryBaseOrder(size);
                if (k == 0) throw new HadamardSizeException(size, HadamardSizes.UnsupportedMessage(size, context));
                var offset = Generator.Position;
                var signs = RandomSigns.Draw(Generator, size);
                var baseMatrix = _options.BaseMatrices?.Invoke(k) ?? HadamardBases.Get(k);
                created = (HadamardOperator.Random(signs, baseMatrix), new TransformSeed(_options.Seed, offset, _options.BaseMatricesName));
                break;
            }
            case TransformType.RandomMatrix:
            {
                // The first requester decides the draw precision, as in compressed-tensors (f32 online, f64 fused).
                var f32 = online && Scheme.Precision != DType.F64;
                var offset = Generator.Position;
                created = (new DenseOperator(size, RandomMatrices.Uniform(Generator, size, f32)), new TransformSeed(_options.Seed, offset, f32 ? "uniform-f32" : "uniform-f64"));
                break;
            }
            case TransformType.RandomOrthogonal:
            {
                var offset = Generator.Position;
                created = (new DenseOperator(size, RandomMatrices.Orthogonal(Generator, size)), new TransformSeed(_options.Seed, offset, "orthogonal"));
                break;
            }
            default:
                throw new InvalidOperationException($"unknown transform type {Scheme.Type}");
        }
        _matrices.Add(size, created);
        return created;
    }

    /// <summary>
    /// A uniformly random permutation (Fisher–Yates on the factory generator). Not torch.randperm's algorithm, so a
    /// randomized scheme is reproducible within Offload only; SpinQuant and QuIP refuse randomize anyway.
    /// </summary>
    private int[] DrawPermutation(int n)
    {
        var perm = new int[n];
        for (var i = 0; i < n; i++) perm[i] = i;
        for (var i = n - 1; i > 0; i--)
        {
            var j = (int)(((ulong)Generator.NextUInt32() * (ulong)(i + 1)) >> 32);
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        return perm;
    }
}
