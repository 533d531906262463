using Offload.Protocol;
using Offload.Tensors;
using Offload.Transforms.Apply;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;
using Offload.Transforms.Hadamard;
using Xunit;

namespace Offload.Transforms.Tests;

/// <summary>Every location of spec §3.4, checked against explicit dense products built here in f64.</summary>
public class ApplicationTests
{
    /// <summary>Fused math is f64 throughout: ~n roundings of ~1e-16 each on values of order 1.</summary>
    private const double F64Tolerance = 1e-12;

    /// <summary>f32 online math: inputs and outputs rounded to f32 (6e-8) plus FWHT/GEMM accumulation over ≤ 96 terms.</summary>
    private const double F32Tolerance = 2e-6;

    /// <summary>Uniform random matrices are not orthogonal; their condition number (~10³ at n = 96) amplifies f32 rounding.</summary>
    private const double F32UniformTolerance = 1e-3;

    public static TheoryData<TransformType, int?, int, int> Cases()
    {
        var data = new TheoryData<TransformType, int?, int, int>();
        foreach (var type in TransformTypes.All)
        {
            data.Add(type, null, 48, 96);  // k·2^m sizes: 48 = 12·4, 96 = 24·4 (deterministic: 12·4, 12·8)
            data.Add(type, 12, 48, 96);    // head_dim blocks of 12 (block-diagonal, non power of two)
            data.Add(type, null, 64, 32);  // powers of two: pure FWHT
            data.Add(type, 16, 64, 32);    // blocks of 16
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryLocationMatchesTheDenseFormula(TransformType type, int? headDim, int inFeatures, int outFeatures)
    {
        using var caches = new TransformCaches();
        var linear = TransformTarget.Linear("layer.fc", inFeatures, outFeatures);
        var embedding = TransformTarget.Embedding("embed", inFeatures, outFeatures);
        foreach (var location in TransformLocations.All.Where(l => l is not (TransformLocation.QAttn or TransformLocation.KCache)))
        {
            foreach (var inverse in new[] { false, true })
            {
                foreach (var module in location.IsOnline() ? [linear] : new[] { linear, embedding })
                {
                    foreach (var precision in location.IsOnline() ? new[] { DType.F64, DType.F32 } : [DType.F64])
                    {
                        // both the fast path (FWHT + k×k mix) and dense GEMM with the cached matrix
                        foreach (var policy in new[] { TransformApplyPolicy.Fast, TransformApplyPolicy.Dense })
                        {
                            var args = new TransformArgs([module.Name], location, inverse);
                            var scheme = new TransformScheme(type, [args], headDim: headDim, precision: precision);
                            var factory = new TransformFactory("R", scheme, caches, new TransformFactoryOptions { Policy = policy });
                            using var t = factory.Create(module, args, DeviceId.Host);
                            Check(t, module, precision, $"{type} {location} inverse={inverse} {module.Kind} head_dim={headDim} {precision} {policy}");
                        }
                    }
                }
            }
        }
    }

    private static void Check(TransformInstance t, TransformTarget module, DType precision, string what)
    {
        var location = t.Args.Location;
        if (location.IsOnline())
        {
            const int tokens = 5;
            var d = (int)t.Dimension;
            var x = Reference.RandomDoubles(tokens * d, seed: d + 7);
            var expected = Expected(t, x, tokens, d);
            using var input = precision == DType.F64 ? Tensor.FromArray(x, tokens, d) : Tensor.FromArray(x.Select(v => (float)v).ToArray(), tokens, d);
            using var output = t.ApplyOnline(input);
            Assert.Equal(input.DType, output.DType);
            var err = Reference.RelativeError(output.ToDoubleArray(), expected);
            var tol = precision == DType.F64 ? F64Tolerance : t.Type == TransformType.RandomMatrix ? F32UniformTolerance : F32Tolerance;
            Assert.True(err <= tol, $"{what}: relative error {err:g3} > {tol:g3}");
            return;
        }
        // Fused: weight [rows, cols] = Linear [out, in] or Embedding [num_embeddings, dim].
        var rows = (int)module.OutFeatures;
        var cols = (int)module.InFeatures;
        if (module.Kind == TransformModuleKind.Embedding) (rows, cols) = ((int)module.InFeatures, (int)module.OutFeatures);
        var w = Reference.RandomDoubles(rows * cols, seed: rows * 3 + cols);
        var expectedW = Expected(t, w, rows, cols);
        using var weight = Tensor.FromArray(w, rows, cols);
        using var fused = t.FuseWeight(weight);
        var errW = Reference.RelativeError(fused.ToDoubleArray(), expectedW);
        Assert.True(errW <= F64Tolerance, $"{what}: weight relative error {errW:g3}");
        if (location == TransformLocation.WeightOutput && module.Kind == TransformModuleKind.Linear)
        {
            var b = Reference.RandomDoubles(rows, seed: 11);
            var expectedB = Expected(t, b, rows, 1);
            using var bias = Tensor.FromArray(b, rows);
            using var fusedB = t.FuseBias(bias);
            Assert.True(Reference.RelativeError(fusedB.ToDoubleArray(), expectedB) <= F64Tolerance, $"{what}: bias");
        }
    }

    /// <summary>The §3.4 formula with B = blockdiag(A), for value x: [rows, cols].</summary>
    internal static double[] Expected(TransformInstance t, double[] x, int rows, int cols)
    {
        var a = ExplicitA(t);
        var n = t.BlockSize;
        var linear = t.Module.Kind == TransformModuleKind.Linear;
        switch (t.Args.Location)
        {
            case TransformLocation.WeightInput when linear:   // W·Bᵀ
                return Reference.MatMul(x, Reference.Transpose(Reference.BlockDiag(a, n, cols), cols, cols), rows, cols, cols);
            case TransformLocation.WeightOutput when linear:  // Bᵀ·W (and Bᵀ·b)
                return Reference.MatMul(Reference.Transpose(Reference.BlockDiag(a, n, rows), rows, rows), x, rows, rows, cols);
            case TransformLocation.WeightInput:               // Embedding: B·E
                return Reference.MatMul(Reference.BlockDiag(a, n, rows), x, rows, rows, cols);
            default:                                          // x·B (online; Embedding weight_output)
                return Reference.MatMul(x, Reference.BlockDiag(a, n, cols), rows, cols, cols);
        }
    }

    /// <summary>A itself, built here: Hadamard types M'/√n or M'ᵀ/√n with M from its definition; random types R or R⁻¹.</summary>
    internal static double[] ExplicitA(TransformInstance t)
    {
        var n = t.BlockSize;
        double[] f;
        switch (t.Type)
        {
            case TransformType.Hadamard:
            {
                HadamardSizes.TryDecompose(n, out var k, out var m);
                var kk = k == 1 ? [1.0] : HadamardBases.Get(k).ToDoubles();
                f = Reference.Kron(kk, k, Reference.Sylvester((int)m), (int)m);
                break;
            }
            case TransformType.RandomHadamard:
            {
                var k = HadamardSizes.LibraryBaseOrder(n);
                var kT = Reference.Transpose(HadamardBases.Get(k).ToDoubles(), k, k);
                f = Reference.Kron(kT, k, Reference.Sylvester(n / k), n / k);
                var signs = ((HadamardOperator)t.Entry.Operator).Signs;
                for (var r = 0; r < n; r++)
                    for (var c = 0; c < n; c++)
                        f[r * n + c] *= signs[r];
                break;
            }
            default:
                f = ((DenseOperator)t.Entry.Operator).Matrix.ToArray();
                break;
        }
        var perm = t.Permutation;
        if (perm.Length > 0)
        {
            var p = new double[n * n];
            for (var i = 0; i < n; i++)
                for (var j = 0; j < n; j++)
                    p[i * n + j] = f[perm[i] * n + perm[j]];
            f = p;
        }
        if (t.Type.IsHadamard())
        {
            var s = Math.Sqrt(n);
            for (var i = 0; i < f.Length; i++) f[i] /= s;
            return t.Args.Inverse ? Reference.Transpose(f, n, n) : f;
        }
        return t.Args.Inverse ? Reference.Invert(f, n) : f;
    }

    [Fact]
    public void RandomizedHadamardUsesThePermutedMatrix()
    {
        using var caches = new TransformCaches();
        var module = TransformTarget.Linear("fc", 96, 48);
        foreach (var type in new[] { TransformType.Hadamard, TransformType.RandomHadamard })
        {
            foreach (var location in new[] { TransformLocation.Input, TransformLocation.WeightInput, TransformLocation.WeightOutput })
            {
                var args = new TransformArgs(["fc"], location, inverse: location == TransformLocation.WeightInput);
                var scheme = new TransformScheme(type, [args], randomize: true, precision: DType.F64);
                using var t = new TransformFactory("R", scheme, caches).Create(module, args, DeviceId.Host);
                Assert.Equal(t.BlockSize, t.Permutation.Length);
                Check(t, module, DType.F64, $"randomized {type} {location}");
            }
        }
    }

    [Fact]
    public void QueryAndKeyRotationsCancelInTheScores()
    {
        // q_attn and k_cache both apply A (forward); (q·A)(k·A)ᵀ = q·kᵀ because A is orthogonal (Hadamard types only).
        using var caches = new TransformCaches();
        const int heads = 4, seq = 6, headDim = 48;
        var attention = TransformTarget.Attention("model.layers.0.self_attn");
        foreach (var type in new[] { TransformType.Hadamard, TransformType.RandomHadamard })
        {
            var qArgs = new TransformArgs(["re:.*self_attn$"], TransformLocation.QAttn);
            var kArgs = new TransformArgs(["re:.*self_attn$"], TransformLocation.KCache);
            var scheme = new TransformScheme(type, [qArgs, kArgs], headDim: headDim, precision: DType.F64);
            var factory = new TransformFactory("R3", scheme, caches);
            using var tq = factory.Create(attention, qArgs, DeviceId.Host);
            using var tk = factory.Create(attention, kArgs, DeviceId.Host);
            Assert.Same(tq.Entry, tk.Entry);
            var q = Reference.RandomDoubles(heads * seq * headDim, 1);
            var k = Reference.RandomDoubles(heads * seq * headDim, 2);
            using var qt = Tensor.FromArray(q, 1, heads, seq, headDim);
            using var kt = Tensor.FromArray(k, 1, heads, seq, headDim);
            using var qr = tq.ApplyOnline(qt);
            using var kr = tk.ApplyOnline(kt);
            var qrd = qr.ToDoubleArray();
            var krd = kr.ToDoubleArray();
            Assert.True(Reference.RelativeError(qrd, q) > 0.1); // it did rotate
            for (var h = 0; h < heads; h++)
            {
                var qs = q.AsSpan(h * seq * headDim, seq * headDim).ToArray();
                var ks = Reference.Transpose(k.AsSpan(h * seq * headDim, seq * headDim).ToArray(), seq, headDim);
                var expected = Reference.MatMul(qs, ks, seq, headDim, seq);
                var actual = Reference.MatMul(qrd.AsSpan(h * seq * headDim, seq * headDim).ToArray(),
                    Reference.Transpose(krd.AsSpan(h * seq * headDim, seq * headDim).ToArray(), seq, headDim), seq, headDim, seq);
                Assert.True(Reference.RelativeError(actual, expected) <= F64Tolerance);
            }
        }
    }

    public static TheoryData<TransformType, int?> IdentityCases()
    {
        var data = new TheoryData<TransformType, int?>();
        foreach (var type in TransformTypes.All)
            foreach (var block in new int?[] { null, 4, 8, 12, 16, 24, 48 })
                data.Add(type, block);
        return data;
    }

    /// <summary>Forward then inverse at the same location gives the input back, for every location and block size.</summary>
    [Theory]
    [MemberData(nameof(IdentityCases))]
    public void ForwardThenInverseIsTheIdentityAtEveryLocation(TransformType type, int? block)
    {
        using var caches = new TransformCaches();
        const int d = 96, other = 40, tokens = 9;
        var linear = TransformTarget.Linear("fc", d, d);
        var embedding = TransformTarget.Embedding("embed", d, d);
        foreach (var location in new[] { TransformLocation.Input, TransformLocation.Output, TransformLocation.WeightInput, TransformLocation.WeightOutput })
        {
            foreach (var module in location.IsOnline() ? [linear] : new[] { linear, embedding })
            {
                foreach (var precision in location.IsOnline() ? new[] { DType.F32, DType.F64 } : [DType.F64])
                {
                    var fwd = new TransformArgs([module.Name], location);
                    var inv = new TransformArgs([module.Name], location, inverse: true);
                    var scheme = new TransformScheme(type, [fwd, inv], headDim: block, precision: precision);
                    var factory = new TransformFactory("R", scheme, caches);
                    using var a = factory.Create(module, fwd, DeviceId.Host);
                    using var b = factory.Create(module, inv, DeviceId.Host);
                    var what = $"{type} {location} {module.Kind} block={block} {precision}";
                    if (location.IsOnline())
                    {
                        var x = Reference.RandomDoubles(tokens * d, 21);
                        using var xt = precision == DType.F64 ? Tensor.FromArray(x, tokens, d) : Tensor.FromArray(x.Select(v => (float)v).ToArray(), tokens, d);
                        using var y = a.ApplyOnline(xt);
                        using var z = b.ApplyOnline(y);
                        var err = Reference.RelativeNormError(z.ToDoubleArray(), xt.ToDoubleArray());
                        var tol = precision == DType.F64 ? F64Tolerance : type == TransformType.RandomMatrix ? F32UniformTolerance : F32RoundTripTolerance;
                        Assert.True(err <= tol, $"{what}: {err:g3} > {tol:g3}");
                    }
                    else
                    {
                        // the transformed axis has size d; the other axis is arbitrary
                        var (rows, cols) = (module.Kind, location) switch
                        {
                            (TransformModuleKind.Linear, TransformLocation.WeightInput) => (other, d),
                            (TransformModuleKind.Linear, _) => (d, other),
                            (_, TransformLocation.WeightInput) => (d, other),
                            _ => (other, d),
                        };
                        var w = Reference.RandomDoubles(rows * cols, 22);
                        using var wt = Tensor.FromArray(w, rows, cols);
                        using var once = a.FuseWeight(wt);
                        using var twice = b.FuseWeight(once);
                        var err = Reference.RelativeNormError(twice.ToDoubleArray(), w);
                        Assert.True(err <= F64Tolerance, $"{what}: {err:g3}");
                    }
                }
            }
        }
    }

    public static TheoryData<TransformType, int?, DType> Pairings()
    {
        var data = new TheoryData<TransformType, int?, DType>();
        foreach (var type in TransformTypes.All)
            foreach (var block in new int?[] { null, 4, 12 })
                foreach (var precision in new[] { DType.F32, DType.F64 })
                    data.Add(type, block, precision);
        return data;
    }

    /// <summary>
    /// compressed-tensors' test_correctness_linear: input⁻¹ ∘ weight_input ∘ weight_output ∘ output⁻¹ on one Linear
    /// reproduces x·Wᵀ + b; and weight_output on one layer with weight_input⁻¹ on the next leaves a two-layer chain as it was.
    /// </summary>
    [Theory]
    [MemberData(nameof(Pairings))]
    public void ForwardAndInverseCancel(TransformType type, int? block, DType precision)
    {
        using var caches = new TransformCaches();
        const int tokens = 7, d0 = 48, d1 = 96, d2 = 48;
        var fc1 = TransformTarget.Linear("fc1", d0, d1);
        var fc2 = TransformTarget.Linear("fc2", d1, d2);
        var scheme = new TransformScheme(type,
        [
            new TransformArgs(["fc1"], TransformLocation.Input, inverse: true),
            new TransformArgs(["fc1"], TransformLocation.WeightInput),
            new TransformArgs(["fc1"], TransformLocation.WeightOutput),
            new TransformArgs(["fc2"], TransformLocation.WeightInput, inverse: true),
        ], headDim: block, precision: precision);
        var transforms = TransformApplier.Apply(new TransformConfig([new TransformGroup("u", scheme)]), [fc1, fc2], DeviceId.Host, caches);
        try
        {
            var x = Reference.RandomDoubles(tokens * d0, 3);
            var w1 = Reference.RandomDoubles(d1 * d0, 4);
            var b1 = Reference.RandomDoubles(d1, 5);
            var w2 = Reference.RandomDoubles(d2 * d1, 6);
            var expected = Chain(x, w1, b1, w2, tokens, d0, d1, d2);

            double[] w1f = w1, b1f = b1, w2f = w2;
            using var xt = precision == DType.F64 ? Tensor.FromArray(x, tokens, d0) : Tensor.FromArray(x.Select(v => (float)v).ToArray(), tokens, d0);
            Tensor xIn = xt.Share();
            foreach (var t in transforms)
            {
                if (t.Args.IsOnline)
                {
                    var next = t.ApplyOnline(xIn);
                    xIn.Dispose();
                    xIn = next;
                    continue;
                }
                var target = t.Module.Name == "fc1" ? w1f : w2f;
                var rows = t.Module.Name == "fc1" ? d1 : d2;
                var cols = t.Module.Name == "fc1" ? d0 : d1;
                using var wt = Tensor.FromArray(target, rows, cols);
                using var fused = t.FuseWeight(wt);
                if (t.Module.Name == "fc1") w1f = fused.ToDoubleArray(); else w2f = fused.ToDoubleArray();
                if (t.Args.Location == TransformLocation.WeightOutput)
                {
                    using var bt = Tensor.FromArray(b1f, d1);
                    using var fb = t.FuseBias(bt);
                    b1f = fb.ToDoubleArray();
                }
            }
            var actual = Chain(xIn.ToDoubleArray(), w1f, b1f, w2f, tokens, d0, d1, d2);
            xIn.Dispose();
            var err = Reference.RelativeError(actual, expected);
            var tol = precision == DType.F64 ? F64Tolerance : type == TransformType.RandomMatrix ? F32UniformTolerance : F32Tolerance;
            Assert.True(err <= tol, $"{type} block={block} {precision}: relative error {err:g3} > {tol:g3}");
        }
        finally
        {
            foreach (var t in transforms) t.Dispose();
        }
    }

    /// <summary>y = (x·W1ᵀ + b1)·W2ᵀ in f64.</summary>
    private static double[] Chain(double[] x, double[] w1, double[] b1, double[] w2, int tokens, int d0, int d1, int d2)
    {
        var h = Reference.MatMul(x, Reference.Transpose(w1, d1, d0), tokens, d0, d1);
        for (var t = 0; t < tokens; t++)
            for (var j = 0; j < d1; j++) h[t * d1 + j] += b1[j];
        return Reference.MatMul(h, Reference.Transpose(w2, d2, d1), tokens, d1, d2);
    }

    [Fact]
    public void EmbeddingRotationPairsWithTheNextLinear()
    {
        // Embedding weight_output (E ← E·B) then Linear weight_input⁻¹ (W ← W·B⁻ᵀ): onehot·E·Wᵀ unchanged.
        using var caches = new TransformCaches();
        const int vocab = 10, dim = 48, outF = 20;
        var embed = TransformTarget.Embedding("embed_tokens", vocab, dim);
        var fc = TransformTarget.Linear("q_proj", dim, outF);
        foreach (var type in TransformTypes.All)
        {
            var scheme = new TransformScheme(type,
            [
                new TransformArgs(["embed_tokens"], TransformLocation.WeightOutput),
                new TransformArgs(["q_proj"], TransformLocation.WeightInput, inverse: true),
            ]);
            var ts = TransformApplier.Apply(new TransformConfig([new TransformGroup("R1", scheme)]), [embed, fc], DeviceId.Host, caches);
            var e = Reference.RandomDoubles(vocab * dim, 1);
            var w = Reference.RandomDoubles(outF * dim, 2);
            using var et = Tensor.FromArray(e, vocab, dim);
            using var wt = Tensor.FromArray(w, outF, dim);
            using var e2 = ts[0].FuseWeight(et);
            using var w2 = ts[1].FuseWeight(wt);
            var expected = Reference.MatMul(e, Reference.Transpose(w, outF, dim), vocab, dim, outF);
            var actual = Reference.MatMul(e2.ToDoubleArray(), Reference.Transpose(w2.ToDoubleArray(), outF, dim), vocab, dim, outF);
            Assert.True(Reference.RelativeError(actual, expected) <= F64Tolerance, type.ToString());
            foreach (var t in ts) t.Dispose();
        }
    }

    [Theory]
    [InlineData(1376, 8)]     // 172·8: the k·2^m path with the base of Llama-2's 11008
    [InlineData(1792, 8)]     // 7·2^8: deterministic base 28, m = 64; random-hadamard base 224, m = 8
    [InlineData(2048, 8)]     // pure FWHT
    public void FastPathMatchesDenseGemmAtRealWidths(int n, int rows)
    {
        using var caches = new TransformCaches();
        var module = TransformTarget.Linear("down_proj", n, 8);
        foreach (var type in new[] { TransformType.Hadamard, TransformType.RandomHadamard })
        {
            var args = new TransformArgs(["down_proj"], TransformLocation.Input);
            var scheme = new TransformScheme(type, [args], precision: DType.F64);
            var fast = new TransformFactory("R4", scheme, caches, new TransformFactoryOptions { Policy = TransformApplyPolicy.Fast }).Create(module, args, DeviceId.Host);
            var dense = new TransformFactory("R4", scheme, caches, new TransformFactoryOptions { Policy = TransformApplyPolicy.Dense }).Create(module, args, DeviceId.Host);
            Assert.Same(fast.Entry, dense.Entry);
            var x = Reference.RandomDoubles(rows * n, n);
            var a = (double[])x.Clone();
            var b = (double[])x.Clone();
            fast.ApplyOnline(a.AsSpan());
            dense.ApplyOnline(b.AsSpan());
            Assert.True(Reference.RelativeError(a, b) <= F64Tolerance, $"{type} {n}");
            fast.Dispose();
            dense.Dispose();
        }
    }

    /// <summary>
    /// Norm-wise (‖y − x‖₂ / ‖x‖₂): f32 with sequential sums over the k = 172 or 224 base terms gives ~4e-7 (measured);
    /// the largest single-element error is ~1.5e-6 of max |x|.
    /// </summary>
    private const double F32RoundTripTolerance = 1e-6;

    [Theory]
    [InlineData(4096)]
    [InlineData(11008)]
    [InlineData(14336)]
    [InlineData(768)]
    public void F32RoundTripIsWithinOneMillionth(int n)
    {
        // input (forward) then input (inverse), f32 precision, on activations of a realistic width.
        using var caches = new TransformCaches();
        var module = TransformTarget.Linear("down_proj", n, 8);
        var fwd = new TransformArgs(["down_proj"], TransformLocation.Input);
        var inv = new TransformArgs(["down_proj"], TransformLocation.Input, inverse: true);
        var scheme = new TransformScheme(TransformType.RandomHadamard, [fwd, inv]);
        var factory = new TransformFactory("R4", scheme, caches);
        using var t1 = factory.Create(module, fwd, DeviceId.Host);
        using var t2 = factory.Create(module, inv, DeviceId.Host);
        var x = Reference.RandomDoubles(16 * n, 1).Select(v => (float)v).ToArray();
        var y = (float[])x.Clone();
        t1.ApplyOnline(y.AsSpan());
        t2.ApplyOnline(y.AsSpan());
        var err = Reference.RelativeNormError(y.Select(v => (double)v).ToArray(), x.Select(v => (double)v).ToArray());
        Assert.True(err <= F32RoundTripTolerance, $"f32 round trip at {n}: {err:g3}");
    }
}
