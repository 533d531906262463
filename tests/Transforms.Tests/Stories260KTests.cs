using Offload.Protocol;
using Offload.Tensors;
using Offload.Tests.Shared;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;
using Xunit;

namespace Offload.Transforms.Tests;

/// <summary>Rotations on a real trained model: stories260K (dim 64, MLP 172 — the width whose base is Williamson's 172).</summary>
public class Stories260KTests
{
    private const int Dim = 64, Hidden = 172, Layers = 5, KvDim = 32, Vocab = 512;

    /// <summary>f32 activations through an f32 online rotation and an f64-fused weight (one f32 rounding each side).</summary>
    private const double F32Tolerance = 1e-6;

    /// <summary>w2 (down_proj) of layer <paramref name="layer"/>: [64, 172] f32, read from the legacy llama2.c file.</summary>
    private static float[] DownProj(int layer)
    {
        var bytes = File.ReadAllBytes(SharedData.File("stories260K.bin"));
        var header = new int[7];
        Buffer.BlockCopy(bytes, 0, header, 0, 28);
        Assert.Equal(new[] { Dim, Hidden, Layers, 8, 4, Vocab, 512 }, header);
        long offset = 28 / 4;
        offset += (long)Vocab * Dim + Layers * Dim;                          // token_embedding, rms_att
        offset += (long)Layers * Dim * Dim + 2L * Layers * KvDim * Dim;      // wq, wk, wv
        offset += (long)Layers * Dim * Dim + Layers * Dim;                   // wo, rms_ffn
        offset += (long)Layers * Hidden * Dim;                               // w1
        offset += (long)layer * Dim * Hidden;                                // w2[layer]
        var w = new float[Dim * Hidden];
        Buffer.BlockCopy(bytes, (int)(offset * 4), w, 0, w.Length * 4);
        return w;
    }

    [Theory]
    [InlineData(TransformType.Hadamard)]
    [InlineData(TransformType.RandomHadamard)]
    public void R4OnTheRealDownProjectionLeavesItsOutputUnchanged(TransformType type)
    {
        using var caches = new TransformCaches();
        var downProj = TransformTarget.Linear("model.layers.2.mlp.down_proj", Hidden, Dim);
        var scheme = new TransformScheme(type,
        [
            new TransformArgs(["re:.*down_proj$"], TransformLocation.Input),
            new TransformArgs(["re:.*down_proj$"], TransformLocation.WeightInput, inverse: true),
        ]);
        var ts = TransformApplier.Apply(new TransformConfig([new TransformGroup("R4", scheme)]), [downProj], DeviceId.Host, caches);
        try
        {
            Assert.Equal(172, ts[0].BlockSize);
            var w = DownProj(2);
            var x = Reference.RandomDoubles(16 * Hidden, 4).Select(v => (float)v).ToArray();
            using var wt = Tensor.FromArray(w, Dim, Hidden);
            using var fused = ts[1].FuseWeight(wt);
            Assert.Equal(DType.F32, fused.DType);
            using var xt = Tensor.FromArray(x, 16, Hidden);
            using var xr = ts[0].ApplyOnline(xt);
            using var expected = Ops.Linear(xt, wt);
            using var actual = Ops.Linear(xr, fused);
            var err = Reference.RelativeNormError(actual.ToDoubleArray(), expected.ToDoubleArray());
            Assert.True(err <= F32Tolerance, $"{type}: {err:g3}");
            Assert.True(Reference.RelativeNormError(fused.ToDoubleArray(), wt.ToDoubleArray()) > 0.5); // the weight did change
        }
        finally
        {
            foreach (var t in ts) t.Dispose();
        }
    }
}
