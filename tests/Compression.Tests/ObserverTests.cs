using Offload.Compression.Quantization;
using Offload.Protocol;
using Xunit;

namespace Offload.Compression.Tests;

public class ObserverTests
{
    /// <summary>The reference test's own tolerance (pytest.approx abs=1e-10).</summary>
    private const double LossTolerance = 1e-10;

    [Theory]
    [InlineData("tensor", true, 4.8103e-06)]
    [InlineData("tensor", false, 1.1258e-06)]
    [InlineData("channel", true, 2.5675e-06)]
    [InlineData("channel", false, 2.3696e-07)]
    [InlineData("group", true, 3.1282e-06)]
    [InlineData("group", false, 1.3794e-07)]
    [InlineData("block", true, 2.8968e-06)]
    [InlineData("block", false, 5.6068e-07)]
    public void Mse_observer_reproduces_the_reference_losses(string strategy, bool symmetric, double expected)
    {
        // llm-compressor test_mse: arange(24).reshape(6,4)/24, 8 bits, loss = mean (x − fq)².
        var x = new float[24];
        for (var i = 0; i < 24; i++) x[i] = i / 24f;
        var s = QuantizationNames.ParseStrategy(strategy, "t");
        var args = QuantizationArgs.Create(8, symmetric: symmetric, groupSize: s == QuantizationStrategy.Group ? 2 : null, strategy: s,
            blockStructure: s == QuantizationStrategy.Block ? [3, 2] : null, observer: "mse");
        var qp = WeightObserver.Observe(x, 6, 4, args, DType.F32);
        var fq = new float[24];
        WeightQuantizer.FakeQuantize(x, qp, args, DType.F32, fq);
        var loss = 0.0;
        for (var i = 0; i < 24; i++) loss += (double)(x[i] - fq[i]) * (x[i] - fq[i]);
        Assert.Equal(expected, loss / 24, LossTolerance);
    }

    [Fact]
    public void Mse_never_loses_to_minmax_on_its_own_objective()
    {
        var rng = new Random(11);
        const int rows = 8, cols = 64;
        var w = new float[rows * cols];
        for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() - 0.5) * (i % 17 == 0 ? 8 : 1);
        var mm = QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel);
        var mse = mm.WithObserver("mse");
        double Err(QuantizationArgs a)
        {
            var qp = WeightObserver.Observe(w, rows, cols, a, DType.F32);
            var fq = new float[w.Length];
            WeightQuantizer.FakeQuantize(w, qp, a, DType.F32, fq);
            var e = 0.0;
            for (var i = 0; i < w.Length; i++) e += Math.Pow(Math.Abs(fq[i] - w[i]), 2.4);
            return e;
        }
        Assert.True(Err(mse) <= Err(mm) * (1 + 1e-6));
        Assert.True(Err(mse) < Err(mm), "the outliers make clipping pay off for at least one row");
    }

    [Fact]
    public void Minmax_observer_gives_per_row_and_per_group_ranges()
    {
        float[] w = [1, -3, 2, 0.5f, /**/ -1, 4, 8, -2];
        var ch = WeightObserver.Observe(w, 2, 4, QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel), DType.F32);
        Assert.Equal([3f / 7.5f, 8f / 7.5f], ch.Scale);
        var gr = WeightObserver.Observe(w, 2, 4, QuantizationArgs.Create(4, groupSize: 2), DType.F32);
        Assert.Equal([3f / 7.5f, 2f / 7.5f, 4f / 7.5f, 8f / 7.5f], gr.Scale);
        var asym = WeightObserver.Observe(w, 2, 4, QuantizationArgs.Create(8, symmetric: false, strategy: QuantizationStrategy.Channel), DType.F32);
        Assert.Equal(5f / 255f, asym.Scale[0]);
        Assert.Equal((int)MathF.Round(-128 - (-3f / (5f / 255f)), MidpointRounding.ToEven), asym.ZeroPoint[0]);
    }
}
