using Offload.Tensors.Formats;
using Xunit;

namespace Offload.Tensors.Tests.Formats;

/// <summary>
/// E8M0 codes against 2^(e−127) computed in f64, and the MX exponent (formats-fp8-fp4-kv.md §5.1) against a reference
/// written from its "m &lt; 1.75" restatement, plus the worked examples of §5.2.
/// </summary>
public sealed class E8M0Tests
{
    [Fact]
    public void Every_code_decodes_to_a_power_of_two_and_encodes_back()
    {
        var codes = new byte[256];
        for (var i = 0; i < 256; i++) codes[i] = (byte)i;
        var span = new float[256];
        E8M0.Decode(codes, span);
        for (var c = 0; c < 255; c++)
        {
            var v = E8M0.Decode((byte)c);
            Assert.Equal(Math.Pow(2, c - 127), (double)v);
            Assert.Equal(v, span[c]);
            Assert.Equal(c, E8M0.Encode(v));
        }
        Assert.True(float.IsNaN(E8M0.Decode(255)));
        Assert.True(float.IsNaN(span[255]));
    }

    [Fact]
    public void Encode_takes_floor_log2_and_clamps()
    {
        Assert.Equal(127, E8M0.Encode(1f));
        Assert.Equal(128, E8M0.Encode(3f));        // floor(log2 3) = 1
        Assert.Equal(126, E8M0.Encode(0.75f));     // floor(log2 0.75) = −1
        Assert.Equal(122, E8M0.Encode(MathF.Pow(2, -5)));
        Assert.Equal(0, E8M0.Encode(0f));
        Assert.Equal(0, E8M0.Encode(-0f));
        Assert.Equal(0, E8M0.Encode(float.Epsilon)); // 2^−149 is below 2^−127
        Assert.Equal(254, E8M0.Encode(float.MaxValue));
        Assert.Equal(255, E8M0.Encode(float.PositiveInfinity));
        Assert.Equal(255, E8M0.Encode(float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => E8M0.Encode(-1f));
    }

    /// <summary>Reference for the MX exponent from its restatement: amax = m·2^e, p = 2^e if m &lt; 1.75 else 2^(e+1).</summary>
    private static int ReferenceMx(double amax, int off)
    {
        if (amax == 0) return 0;
        var e = (int)Math.Floor(Math.Log2(amax));
        if (Math.Pow(2, e) > amax) e--; // guard Log2 rounding
        if (Math.Pow(2, e + 1) <= amax) e++;
        var m = amax / Math.Pow(2, e);
        var pe = m < 1.75 ? e : e + 1;
        return Math.Clamp(127 + pe - off, 0, 255);
    }

    [Theory]
    [InlineData(0.2099609375f, 2, 122)] // §5.2 MXFP4 row 0
    [InlineData(4.8125f, 2, 127)]       // §5.2 MXFP4 row 1
    [InlineData(0.2099609375f, 8, 116)] // §5.2 MXFP8 row 0
    [InlineData(4.8125f, 8, 121)]       // §5.2 MXFP8 row 1
    public void Spec_5_2_worked_examples(float bf16Amax, int off, int expected)
    {
        Assert.Equal(expected, E8M0.MxExponent(bf16Amax, off, 7));
        Assert.Equal(expected, E8M0.MxExponent(bf16Amax, off, 23));
        Assert.Equal(expected, E8M0.MxExponent(bf16Amax, off, 10));
    }

    [Fact]
    public void Mantissa_1_75_carries_up_and_just_below_does_not()
    {
        Assert.Equal(127 + 1 - 2, E8M0.MxExponent(1.75f, Fp4E2M1.Emax, 23));
        Assert.Equal(127 + 0 - 2, E8M0.MxExponent(MathF.BitDecrement(1.75f), Fp4E2M1.Emax, 23));
        Assert.Equal(127 + 1 - 8, E8M0.MxExponent(1.75f, Float8E4M3.Emax, 7));
        Assert.Equal(127 + 0 - 8, E8M0.MxExponent(1.7421875f, Float8E4M3.Emax, 7)); // the bf16 below 1.75
        Assert.Equal(127 + 0 - 8, E8M0.MxExponent(1.7490234f, Float8E4M3.Emax, 10)); // the f16 below 1.75
        Assert.Equal(127 + 9 - 8, E8M0.MxExponent(448f, Float8E4M3.Emax, 7));     // 448 = 1.75·2^8 → 2^9
    }

    [Fact]
    public void Zero_tiny_and_huge_amax_clamp()
    {
        Assert.Equal(0, E8M0.MxExponent(0f, 2, 7));
        Assert.Equal(0, E8M0.MxExponent(1e-38f, 8, 23));
        Assert.Equal(0, E8M0.MxExponent(float.Epsilon, 2, 23)); // a subnormal below 0.75·2^−126 rounds to 0
        Assert.Equal(255, E8M0.MxExponent(float.MaxValue, 2, 23)); // rounds up to 2^128 = Inf in f32 → 255
        Assert.Equal(127 + 127 - 2, E8M0.MxExponent(MathF.Pow(2, 127), 2, 23)); // the largest finite p
        Assert.Equal(255, E8M0.MxExponent(float.PositiveInfinity, 0, 23));
        Assert.Equal(255, E8M0.MxExponent(float.NaN, 2, 7));
        // f16 overflows earlier: 57344 = 1.75·2^15 rounds to 2^16, which is Inf in f16 (f32 keeps 2^16).
        Assert.Equal(255, E8M0.MxExponent(57344f, 2, 10));
        Assert.Equal(127 + 16 - 2, E8M0.MxExponent(57344f, 2, 23));
        Assert.Throws<ArgumentOutOfRangeException>(() => E8M0.MxExponent(1f, 2, 52));
    }

    [Fact]
    public void Random_bf16_and_f32_amax_match_the_reference()
    {
        var rng = new Random(7);
        for (var i = 0; i < 50_000; i++)
        {
            var f32 = (float)(rng.NextDouble() * Math.Pow(2, rng.Next(-120, 120)));
            var bf16 = DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(f32));
            foreach (var off in new[] { Fp4E2M1.Emax, Float8E4M3.Emax })
            {
                Assert.Equal(ReferenceMx(f32, off), E8M0.MxExponent(f32, off, 23));
                Assert.Equal(ReferenceMx(bf16, off), E8M0.MxExponent(bf16, off, 7));
            }
        }
    }
}
