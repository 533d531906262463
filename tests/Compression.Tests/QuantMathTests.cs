using Offload.Compression.Quantization;
using Offload.Protocol;
using Xunit;

namespace Offload.Compression.Tests;

public class QuantMathTests
{
    private static readonly QuantGrid Int4 = new(QuantizationType.Int, 4);

    /// <summary>f32 versus f64 arithmetic may round a code differently only when x/scale lies this close to a half-integer.</summary>
    private const double TieBand = 1e-4;

    [Fact]
    public void Symmetric_int4_scale_is_absmax_over_7_5()
    {
        var (s, zp) = QuantMath.Calculate(-3f, 1.5f, QuantizationArgs.Create(4), DType.F32, DType.F32);
        Assert.Equal(3f / 7.5f, s);
        Assert.Equal(0, zp);
        var (s8, _) = QuantMath.Calculate(-0.5f, 2f, QuantizationArgs.Create(8), DType.F32, DType.F32);
        Assert.Equal(2f / 127.5f, s8);
    }

    [Fact]
    public void Minmax_of_ones_matches_the_reference_test()
    {
        // llm-compressor test_min_max: [1,1,1,1,1] at 8 bits.
        var sym = QuantMath.Calculate(1f, 1f, QuantizationArgs.Create(8), DType.F32, DType.F32);
        Assert.Equal((1f / 127.5f, 0), sym);
        var asym = QuantMath.Calculate(1f, 1f, QuantizationArgs.Create(8, symmetric: false), DType.F32, DType.F32);
        Assert.Equal((1f / 255f, -128), asym);
        Assert.Equal(0.0078, Math.Round(sym.Item1, 4));
        Assert.Equal(0.0039, Math.Round(asym.Item1, 4));
    }

    [Fact]
    public void Asymmetric_zero_point_is_signed_and_rounded_half_to_even()
    {
        // range [-1, 2] at 4 bits: scale = 3/15 = 0.2, zp = -8 - (-1/0.2) = -3.
        var (s, zp) = QuantMath.Calculate(-1f, 2f, QuantizationArgs.Create(4, symmetric: false), DType.F32, DType.F32);
        Assert.Equal(3f / 15f, s);
        Assert.Equal(-3, zp);
        // range [0.5, 2]: widened to [0, 2]; zp = -8.
        Assert.Equal(-8, QuantMath.Calculate(0.5f, 2f, QuantizationArgs.Create(4, symmetric: false), DType.F32, DType.F32).ZeroPoint);
    }

    [Fact]
    public void Zero_scale_becomes_the_scale_dtype_eps()
    {
        Assert.Equal(0.0078125f, QuantMath.Calculate(0f, 0f, QuantizationArgs.Create(4), DType.BF16, DType.BF16).Scale);
        Assert.Equal(1.1920929e-07f, QuantMath.Calculate(0f, 0f, QuantizationArgs.Create(4), DType.F32, DType.F32).Scale);
    }

    [Fact]
    public void Rounding_is_half_to_even_and_clamps_to_the_full_range()
    {
        Assert.Equal(2, QuantMath.Quantize(2.5f, 1f, 0, Int4, DType.F32));
        Assert.Equal(-2, QuantMath.Quantize(-2.5f, 1f, 0, Int4, DType.F32));
        Assert.Equal(4, QuantMath.Quantize(3.5f, 1f, 0, Int4, DType.F32));
        Assert.Equal(7, QuantMath.Quantize(7.5f, 1f, 0, Int4, DType.F32));
        Assert.Equal(-8, QuantMath.Quantize(-9f, 1f, 0, Int4, DType.F32));
        Assert.Equal(-8, QuantMath.Quantize(-7.5f, 1f, 0, Int4, DType.F32)); // half to even: -7.5 → -8
    }

    [Fact]
    public void Bf16_scale_rounds_fake_quantized_values_to_bf16()
    {
        var s = QuantMath.RoundTo(0.1f, DType.BF16);
        var v = QuantMath.FakeQuantize(0.7f, s, 0, Int4, DType.BF16, DType.BF16);
        Assert.Equal(QuantMath.RoundTo(v, DType.BF16), v);
        Assert.Equal(QuantMath.RoundTo(7 * s, DType.BF16), v);
    }

    [Theory]
    [InlineData(4, true, QuantizationStrategy.Channel)]
    [InlineData(4, false, QuantizationStrategy.Group)]
    [InlineData(8, true, QuantizationStrategy.Tensor)]
    [InlineData(3, false, QuantizationStrategy.Channel)]
    public void Fake_quantize_matches_an_f64_reference(int bits, bool symmetric, QuantizationStrategy strategy)
    {
        const int rows = 13, cols = 64;
        var rng = new Random(bits * 31 + (symmetric ? 1 : 0));
        var w = new float[rows * cols];
        for (var i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 0.7);
        var args = QuantizationArgs.Create(bits, symmetric: symmetric, groupSize: strategy == QuantizationStrategy.Group ? 16 : null, strategy: strategy);
        var qp = WeightObserver.Observe(w, rows, cols, args, DType.F32);
        var fq = new float[w.Length];
        WeightQuantizer.FakeQuantize(w, qp, args, DType.F32, fq);

        var qmin = -(1 << (bits - 1));
        var qmax = (1 << (bits - 1)) - 1;
        var g = strategy switch { QuantizationStrategy.Group => 16, QuantizationStrategy.Channel => cols, _ => rows * cols };
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
        {
            // Reference: the qparam's elements, min/max widened to 0, f64 scale and zp.
            var (lo, hi) = (0.0, 0.0);
            for (var rr = 0; rr < rows; rr++)
            for (var cc = 0; cc < cols; cc++)
            {
                var same = strategy switch
                {
                    QuantizationStrategy.Tensor => true,
                    QuantizationStrategy.Channel => rr == r,
                    _ => rr == r && cc / g == c / g,
                };
                if (!same) continue;
                lo = Math.Min(lo, w[rr * cols + cc]);
                hi = Math.Max(hi, w[rr * cols + cc]);
            }
            double scale, zp = 0;
            if (symmetric) scale = Math.Max(-lo, hi) / ((qmax - qmin) / 2.0);
            else
            {
                scale = (hi - lo) / (qmax - qmin);
                zp = Math.Round(Math.Clamp(qmin - lo / scale, qmin, qmax), MidpointRounding.ToEven);
            }
            var x = w[r * cols + c] / scale + zp;
            var q = Math.Round(Math.Clamp(x, qmin, qmax), MidpointRounding.ToEven);
            var expected = (q - zp) * scale;
            var nearTie = Math.Abs(x - Math.Floor(x) - 0.5) < TieBand;
            if (!nearTie) Assert.Equal(expected, fq[r * cols + c], 1e-6 * Math.Max(1, Math.Abs(expected)));
        }
    }

    [Fact]
    public void Quantize_then_dequantize_equals_fake_quantize_with_g_idx()
    {
        const int rows = 6, cols = 32;
        var rng = new Random(5);
        var w = new float[rows * cols];
        for (var i = 0; i < w.Length; i++) w[i] = (float)rng.NextDouble() - 0.5f;
        var args = QuantizationArgs.Create(4, symmetric: false, groupSize: 8, actOrder: ActivationOrdering.Group);
        var qp = WeightObserver.Observe(w, rows, cols, args, DType.F32);
        var gIdx = new int[cols];
        for (var c = 0; c < cols; c++) gIdx[c] = (c * 7 % cols) / 8; // a permutation's groups
        var codes = new sbyte[w.Length];
        WeightQuantizer.Quantize(w, qp, args, DType.F32, codes, gIdx);
        var deq = new float[w.Length];
        WeightQuantizer.Dequantize(codes, qp, args, deq, gIdx);
        var fq = new float[w.Length];
        WeightQuantizer.FakeQuantize(w, qp, args, DType.F32, fq, gIdx);
        Assert.Equal(fq, deq);
        for (var r = 0; r < rows; r++)
        for (var c = 0; c < cols; c++)
        {
            var q = r * qp.Layout.QCols + gIdx[c];
            Assert.Equal((codes[r * cols + c] - qp.ZeroPoint[q]) * qp.Scale[q], deq[r * cols + c]);
        }
    }

    [Fact]
    public void Group_size_that_does_not_divide_the_width_is_refused()
    {
        var args = QuantizationArgs.Create(4, groupSize: 128);
        var e = Assert.Throws<QuantizationConfigException>(() => QParamLayout.For(args, 4, 172, "model.layers.0.mlp.down_proj"));
        Assert.Contains("down_proj", e.Message);
        Assert.Equal(1, QParamLayout.For(args, 4, 64).QCols); // narrower than one group: one group
    }

    [Fact]
    public void Dynamic_token_activation_quantization_uses_each_rows_absmax()
    {
        float[] x = [1f, -2f, 0.5f, 0.25f, 4f, -1f];
        var args = QuantizationPresets.Activations(8);
        ActivationQuantizer.FakeQuantizeDynamic(x, 2, 3, args);
        var s0 = 2f / 127.5f;
        Assert.Equal(MathF.Round(1f / s0) * s0, x[0]);
        Assert.Equal(MathF.Round(-2f / s0) * s0, x[1]);
        var s1 = 4f / 127.5f;
        Assert.Equal(MathF.Round(0.25f / s1) * s1, x[3]);
    }
}
