using Offload.Protocol;
using Offload.Tensors;
using Offload.Transforms.Apply;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;
using Xunit;

namespace Offload.Transforms.Tests;

public class TransformCacheTests
{
    /// <summary>A Llama-shaped model description (no weights): enough to list its modules in model order.</summary>
    private sealed record LlamaShape(int Layers, int Hidden, int Intermediate, int Heads, int KvHeads, int Vocab)
    {
        public int HeadDim => Hidden / Heads;

        public List<TransformTarget> Modules()
        {
            var list = new List<TransformTarget> { TransformTarget.Embedding("model.embed_tokens", Vocab, Hidden) };
            for (var i = 0; i < Layers; i++)
            {
                var p = $"model.layers.{i}";
                list.Add(TransformTarget.Attention($"{p}.self_attn"));
                list.Add(TransformTarget.Linear($"{p}.self_attn.q_proj", Hidden, Heads * HeadDim));
                list.Add(TransformTarget.Linear($"{p}.self_attn.k_proj", Hidden, KvHeads * HeadDim));
                list.Add(TransformTarget.Linear($"{p}.self_attn.v_proj", Hidden, KvHeads * HeadDim));
                list.Add(TransformTarget.Linear($"{p}.self_attn.o_proj", Heads * HeadDim, Hidden));
                list.Add(TransformTarget.Linear($"{p}.mlp.gate_proj", Hidden, Intermediate));
                list.Add(TransformTarget.Linear($"{p}.mlp.up_proj", Hidden, Intermediate));
                list.Add(TransformTarget.Linear($"{p}.mlp.down_proj", Intermediate, Hidden));
            }
            list.Add(TransformTarget.Linear("lm_head", Hidden, Vocab));
            return list;
        }

        public static int LayerOf(TransformTarget m) =>
            m.Name.StartsWith("model.layers.", StringComparison.Ordinal) ? int.Parse(m.Name.Split('.')[2]) : -1;
    }

    // 32 layers, hidden 256, MLP 688 = 172·4 (a non-power-of-two width), 8 heads of 32, 4 KV heads.
    private static readonly LlamaShape s_model = new(32, 256, 688, 8, 4, 512);

    private static TransformConfig QuipV() => new([new TransformGroup("v", new TransformScheme(TransformType.RandomHadamard,
    [
        new TransformArgs(["Linear"], TransformLocation.Input, ignore: ["lm_head"]),
        new TransformArgs(["Linear"], TransformLocation.WeightInput, inverse: true, ignore: ["lm_head"]),
    ], precision: DType.F32))]);

    private static TransformConfig SpinQuant() => new(
    [
        new TransformGroup("R1", new TransformScheme(TransformType.Hadamard,
        [
            new TransformArgs(["re:.*embed_tokens$", "re:.*o_proj$", "re:.*down_proj$"], TransformLocation.WeightOutput),
            new TransformArgs(["re:.*q_proj$", "re:.*k_proj$", "re:.*v_proj$", "re:.*up_proj$", "re:.*gate_proj$", "lm_head"], TransformLocation.WeightInput, inverse: true),
        ], precision: DType.F64)),
        new TransformGroup("R2", new TransformScheme(TransformType.Hadamard,
        [
            new TransformArgs(["re:.*v_proj$"], TransformLocation.WeightOutput),
            new TransformArgs(["re:.*o_proj$"], TransformLocation.WeightInput, inverse: true),
        ], headDim: 32, precision: DType.F64)),
        new TransformGroup("R3", new TransformScheme(TransformType.Hadamard,
        [
            new TransformArgs(["re:.*self_attn$"], TransformLocation.QAttn),
            new TransformArgs(["re:.*self_attn$"], TransformLocation.KCache),
        ], headDim: 32, precision: DType.F64)),
        new TransformGroup("R4", new TransformScheme(TransformType.Hadamard,
        [
            new TransformArgs(["re:.*down_proj$"], TransformLocation.Input),
            new TransformArgs(["re:.*down_proj$"], TransformLocation.WeightInput, inverse: true),
        ], precision: DType.F32)),
    ]);

    [Fact]
    public void OneMatrixPerSizeAndDtypeForA32LayerModelOnOneDevice()
    {
        using var caches = new TransformCaches();
        var transforms = TransformApplier.Apply(QuipV(), s_model.Modules(), DeviceId.Host, caches);
        try
        {
            Assert.Equal(32 * 7 * 2, transforms.Count);
            var cache = caches.For(DeviceId.Host);
            Assert.Equal(4, cache.Count); // (256, f32), (256, f64), (688, f32), (688, f64)
            Assert.Equal(0, cache.DeviceBytes); // the fast path needs no dense matrix
            var objects = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
            foreach (var t in transforms) objects.Add(t.StoredMatrix);
            Assert.Equal(4, objects.Count);
            const long expectedBytes = 256L * 256 * 4 + 256L * 256 * 8 + 688L * 688 * 4 + 688L * 688 * 8;
            Assert.Equal(expectedBytes, objects.Sum(t => t.ByteLength));
            Assert.Equal(expectedBytes, cache.DeviceBytes);
            // every transform of one key holds the same entry; each entry is leased by its 112 users
            foreach (var group in transforms.GroupBy(t => t.Key))
            {
                Assert.Single(group.Select(t => t.Entry).Distinct());
                Assert.Equal(group.Count(), group.First().Entry.RefCount);
            }
        }
        finally
        {
            foreach (var t in transforms) t.Dispose();
        }
        Assert.Equal(0, caches.For(DeviceId.Host).Count); // released with the last lease
    }

    [Fact]
    public void SpinQuantSharesAcrossGroupsOfOneKindAndSize()
    {
        using var caches = new TransformCaches();
        var transforms = TransformApplier.Apply(SpinQuant(), s_model.Modules(), DeviceId.Host, caches);
        try
        {
            var cache = caches.For(DeviceId.Host);
            // hadamard: R1 (256, f64), R2 and R3 (32, f64) — one entry, same key —, R4 (688, f32) and (688, f64)
            Assert.Equal(4, cache.Count);
            var r2 = transforms.First(t => t.SchemeName == "R2");
            var r3 = transforms.First(t => t.SchemeName == "R3");
            Assert.Same(r2.Entry, r3.Entry);
        }
        finally
        {
            foreach (var t in transforms) t.Dispose();
        }
    }

    [Fact]
    public void TwoDevicesHoldOneCopyEachAndMovesUseTheTargetDevicesCopy()
    {
        var cpu0 = DeviceId.Parse("cpu:0");
        var cpu1 = DeviceId.Parse("cpu:1");
        using var caches = new TransformCaches();
        var transforms = TransformApplier.Apply(QuipV(), s_model.Modules(), m => LlamaShape.LayerOf(m) < 16 ? cpu0 : cpu1, caches);
        try
        {
            foreach (var t in transforms) _ = t.StoredMatrix;
            Assert.Equal(4, caches.For(cpu0).Count);
            Assert.Equal(4, caches.For(cpu1).Count);
            var objects = new HashSet<Tensor>(transforms.Select(t => t.StoredMatrix), ReferenceEqualityComparer.Instance);
            Assert.Equal(8, objects.Count);
            Assert.All(transforms, t => Assert.Equal(t.Device, t.StoredMatrix.Device));

            // Layer 5 moves to cpu:1: it now uses cpu:1's entries (the ones layer 20 uses), and cpu:0 keeps one copy.
            var layer5 = transforms.Where(t => LlamaShape.LayerOf(t.Module) == 5).ToList();
            var before = layer5.ToDictionary(t => t, t => t.Entry.RefCount);
            foreach (var t in layer5) t.MoveTo(cpu1);
            foreach (var t in layer5)
            {
                var peer = transforms.First(p => LlamaShape.LayerOf(p.Module) == 20 && p.Args == t.Args && p.BlockSize == t.BlockSize);
                Assert.Same(peer.Entry, t.Entry);
                Assert.Equal(cpu1, t.StoredMatrix.Device);
            }
            Assert.Equal(4, caches.For(cpu0).Count);
            Assert.Equal(4, caches.For(cpu1).Count);
            Assert.Equal(8, new HashSet<Tensor>(transforms.Select(t => t.StoredMatrix), ReferenceEqualityComparer.Instance).Count);

            // Everything moves to cpu:1: cpu:0 frees all of its matrices; cpu:1 still holds one per key.
            foreach (var t in transforms) t.MoveTo(cpu1);
            Assert.Equal(0, caches.For(cpu0).Count);
            Assert.Equal(0, caches.For(cpu0).DeviceBytes);
            Assert.Equal(4, caches.For(cpu1).Count);
            Assert.Equal(transforms.Count, caches.For(cpu1).Entries.Sum(e => e.RefCount));
        }
        finally
        {
            foreach (var t in transforms) t.Dispose();
        }
    }

    [Fact]
    public void CompressedTensorsMemoryTestShape()
    {
        // test_memory.py: Linears 2→2, 2→4, 4→4, 4→8, 8→8 with input and output transforms on every Linear:
        // 3 distinct weights, size 2 used 3 times, size 4 four times, size 8 three times.
        var widths = new[] { 2, 2, 4, 4, 8, 8 };
        var modules = Enumerable.Range(0, 5).Select(i => TransformTarget.Linear($"fcs.{i}", widths[i], widths[i + 1])).ToList();
        foreach (var type in new[] { TransformType.Hadamard, TransformType.RandomHadamard })
        {
            foreach (var randomize in new[] { false, true })
            {
                using var caches = new TransformCaches();
                var scheme = new TransformScheme(type, [new TransformArgs(["Linear"], TransformLocation.Input), new TransformArgs(["Linear"], TransformLocation.Output)], randomize: randomize);
                var ts = TransformApplier.Apply(new TransformConfig([new TransformGroup("T", scheme)]), modules, DeviceId.Host, caches);
                var bySize = ts.GroupBy(t => t.BlockSize).ToDictionary(g => g.Key, g => g.ToList());
                Assert.Equal(3, caches.For(DeviceId.Host).Count);
                Assert.Equal(3, new HashSet<Tensor>(ts.Select(t => t.StoredMatrix), ReferenceEqualityComparer.Instance).Count);
                Assert.Equal(3, bySize[2].Count);
                Assert.Equal(4, bySize[4].Count);
                Assert.Equal(3, bySize[8].Count);
                foreach (var t in ts) t.Dispose();
            }
        }
    }

    [Fact]
    public void RandomMatrixInverseIsComputedOnceAndShared()
    {
        using var caches = new TransformCaches();
        var a = TransformTarget.Linear("a", 24, 24);
        var b = TransformTarget.Linear("b", 24, 24);
        var inv = new TransformArgs(["a", "b"], TransformLocation.Input, inverse: true);
        var scheme = new TransformScheme(TransformType.RandomMatrix, [inv]);
        var factory = new TransformFactory("u", scheme, caches);
        using var ta = factory.Create(a, inv, DeviceId.Host);
        using var tb = factory.Create(b, inv, DeviceId.Host);
        var dense = (DenseOperator)ta.Entry.Operator;
        Assert.False(dense.HasInverse);
        var ia = ta.StoredMatrix;
        Assert.True(dense.HasInverse);
        Assert.Same(ia, tb.StoredMatrix);
        Assert.Same(dense.Inverse, dense.Inverse);
        // R·R⁻¹ = I (the inverse is f64, stored as f32 here)
        var r = dense.Matrix.ToArray();
        var product = Reference.MatMul(r, ia.ToDoubleArray(), 24, 24, 24);
        for (var i = 0; i < 24; i++)
            for (var j = 0; j < 24; j++)
                Assert.Equal(i == j ? 1.0 : 0.0, product[i * 24 + j], 3); // f32 rounding of R⁻¹ (cond(R) ~ 10²)
    }

    [Fact]
    public void CheckpointsStoreEachOnlineMatrixOnce()
    {
        using var caches = new TransformCaches();
        var transforms = TransformApplier.Apply(QuipV(), s_model.Modules(), DeviceId.Host, caches);
        try
        {
            var checkpoint = TransformCheckpoint.From(transforms);
            Assert.Equal(2, checkpoint.Tensors.Count); // online (input) matrices: 256 and 688, f32
            Assert.Equal("model.layers.0.self_attn.q_proj.v_input.weight", checkpoint.Tensors[0].Name);
            Assert.Equal("model.layers.0.mlp.down_proj.v_input.weight", checkpoint.Tensors[1].Name);
            Assert.Equal(32 * 7 - 2, checkpoint.TiedTo.Count);
            Assert.Equal("model.layers.0.self_attn.q_proj.v_input.weight", checkpoint.TiedTo["model.layers.31.mlp.up_proj.v_input.weight"]);
            Assert.Equal(256L * 256 * 4 + 688L * 688 * 4, checkpoint.ByteLength);
            // the stored matrix is the unnormalised ±1 matrix in the transform dtype
            Assert.All(checkpoint.Tensors[0].Tensor.ToFloatArray(), v => Assert.True(v is 1f or -1f));
        }
        finally
        {
            foreach (var t in transforms) t.Dispose();
        }
    }

    [Fact]
    public void LeasesReleaseOnceAndEntriesFreeTheirTensors()
    {
        using var cache = new TransformCache(DeviceId.Host);
        var key = new TransformKey(TransformType.Hadamard, 64, DType.F32, DeviceId.Host, TransformSeed.None);
        var created = 0;
        TransformOperator Create()
        {
            created++;
            return HadamardOperator.Deterministic(64);
        }
        var l1 = cache.Acquire(key, Create);
        var l2 = cache.Acquire(key, Create);
        Assert.Equal(1, created);
        Assert.Same(l1.Entry, l2.Entry);
        var matrix = l1.Entry.Matrix;
        l1.Dispose();
        l1.Dispose(); // a second dispose does nothing
        Assert.Equal(1, l2.Entry.RefCount);
        Assert.False(matrix.IsDisposed);
        l2.Dispose();
        Assert.True(matrix.IsDisposed);
        Assert.Equal(0, cache.Count);
        Assert.Throws<ArgumentException>(() => cache.Acquire(key.On(DeviceId.Parse("cpu:1")), Create));
    }
}
