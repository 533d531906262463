using Offload.Tensors.Formats;
using Xunit;

namespace Offload.Tensors.Tests.Formats;

/// <summary>
/// e4m3fn and e5m2 against <see cref="Float8Reference"/> (f64, from the format definition): every code decoded, every
/// code round-tripped, every midpoint between neighbours, the overflow rules, a random sweep of f32 inputs, and the
/// spec's worked examples (formats-fp8-fp4-kv.md §2.3, §3, §4.7, §5.2).
/// </summary>
public sealed class Float8Tests
{
    private sealed record Format(
        string Name,
        Float8Reference Reference,
        float MaxValue,
        Func<float, byte> Encode,
        Func<float, byte> EncodeSaturating,
        Func<byte, float> Decode,
        SpanEncode EncodeSpan,
        SpanEncode EncodeSaturatingSpan,
        SpanDecode DecodeSpan);

    private delegate void SpanEncode(ReadOnlySpan<float> src, Span<byte> dst);

    private delegate void SpanDecode(ReadOnlySpan<byte> src, Span<float> dst);

    private static readonly Format E4M3 = new("e4m3", Float8Reference.E4M3, 448f,
        Float8E4M3.Encode, Float8E4M3.EncodeSaturating, Float8E4M3.Decode, Float8E4M3.Encode, Float8E4M3.EncodeSaturating, Float8E4M3.Decode);

    private static readonly Format E5M2 = new("e5m2", Float8Reference.E5M2, 57344f,
        Float8E5M2.Encode, Float8E5M2.EncodeSaturating, Float8E5M2.Decode, Float8E5M2.Encode, Float8E5M2.EncodeSaturating, Float8E5M2.Decode);

    public static TheoryData<string> Formats => new() { "e4m3", "e5m2" };

    private static Format Get(string name) => name == "e4m3" ? E4M3 : E5M2;

    private static byte[] AllCodes()
    {
        var codes = new byte[256];
        for (var i = 0; i < 256; i++) codes[i] = (byte)i;
        return codes;
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_code_decodes_to_the_reference_value(string name)
    {
        var f = Get(name);
        var spanDecoded = new float[256];
        f.DecodeSpan(AllCodes(), spanDecoded);
        for (var c = 0; c < 256; c++)
        {
            var expected = f.Reference.Value(c);
            var got = f.Decode((byte)c);
            Assert.Equal(BitConverter.SingleToInt32Bits(got), BitConverter.SingleToInt32Bits(spanDecoded[c]));
            if (double.IsNaN(expected))
            {
                Assert.True(float.IsNaN(got), $"{name} 0x{c:X2} should be NaN, decoded {got}");
                continue;
            }
            Assert.Equal(expected, (double)got);
            Assert.Equal((c & 0x80) != 0, float.IsNegative(got)); // −0 included
        }
    }

    [Fact]
    public void The_special_codes_are_where_the_formats_put_them()
    {
        Assert.Equal(new[] { 0x7F, 0xFF }, Enumerable.Range(0, 256).Where(c => float.IsNaN(Float8E4M3.Decode((byte)c))));
        Assert.Equal(448f, Float8E4M3.Decode(0x7E));
        Assert.Equal(-448f, Float8E4M3.Decode(0xFE));
        Assert.Equal(MathF.Pow(2, -9), Float8E4M3.Decode(0x01));
        Assert.Equal(new[] { 0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF }, Enumerable.Range(0, 256).Where(c => float.IsNaN(Float8E5M2.Decode((byte)c))));
        Assert.Equal(float.PositiveInfinity, Float8E5M2.Decode(0x7C));
        Assert.Equal(float.NegativeInfinity, Float8E5M2.Decode(0xFC));
        Assert.Equal(57344f, Float8E5M2.Decode(0x7B));
        Assert.Equal(MathF.Pow(2, -16), Float8E5M2.Decode(0x01));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_non_NaN_code_survives_decode_then_encode(string name)
    {
        var f = Get(name);
        var values = new float[256];
        for (var c = 0; c < 256; c++) values[c] = (float)f.Reference.Value(c);
        var span = new byte[256];
        f.EncodeSpan(values, span);
        for (var c = 0; c < 256; c++)
        {
            if (f.Reference.IsNaN(c))
            {
                Assert.True(f.Reference.IsNaN(f.Encode(f.Decode((byte)c))), $"{name} NaN 0x{c:X2} did not stay NaN");
                continue;
            }
            Assert.Equal(c, f.Encode(f.Decode((byte)c)));
            Assert.Equal(c, span[c]);
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Every_midpoint_rounds_to_the_even_code_and_a_hair_off_it_to_the_nearer_one(string name)
    {
        var f = Get(name);
        var r = f.Reference;
        for (var lo = 0; lo < r.MaxCode; lo++)
        {
            var hi = lo + 1;
            var mid = (r.Value(lo) + r.Value(hi)) / 2;
            var m = (float)mid;
            Assert.Equal(mid, (double)m); // every midpoint is an f32
            var even = (lo & 1) == 0 ? lo : hi;
            foreach (var sign in new[] { 0, 0x80 })
            {
                var s = sign == 0 ? 1f : -1f;
                Assert.True(even + sign == f.Encode(s * m), $"{name}: {s * m} should round to 0x{even + sign:X2}, got 0x{f.Encode(s * m):X2}");
                Assert.Equal(hi + sign, f.Encode(s * MathF.BitIncrement(m)));
                Assert.Equal(lo + sign, f.Encode(s * MathF.BitDecrement(m)));
            }
        }
    }

    [Fact]
    public void E4m3_overflow_goes_to_NaN_only_past_the_midpoint_above_448_and_saturating_clamps()
    {
        // 464 is halfway between 448 (mantissa 110, even) and the 480 that e4m3fn does not have: ties to 448.
        Assert.Equal(0x7E, Float8E4M3.Encode(464f));
        Assert.Equal(0xFE, Float8E4M3.Encode(-464f));
        Assert.Equal(0x7F, Float8E4M3.Encode(MathF.BitIncrement(464f)));
        Assert.Equal(0xFF, Float8E4M3.Encode(-MathF.BitIncrement(464f)));
        foreach (var x in new[] { 480f, 1e6f, float.MaxValue, float.PositiveInfinity })
        {
            Assert.Equal(0x7F, Float8E4M3.Encode(x));
            Assert.Equal(0xFF, Float8E4M3.Encode(-x));
            Assert.Equal(0x7E, Float8E4M3.EncodeSaturating(x));
            Assert.Equal(0xFE, Float8E4M3.EncodeSaturating(-x));
        }
        Assert.Equal(0x7F, Float8E4M3.Encode(BitConverter.Int32BitsToSingle(0x7FC0_0000)) & 0x7F);
        Assert.Equal(0x7F, Float8E4M3.EncodeSaturating(float.NaN) & 0x7F);
        Assert.Equal(0x7F, Float8E4M3.Encode(BitConverter.Int32BitsToSingle(0x7FC0_0000))); // positive NaN keeps its sign
        Assert.Equal(0xFF, Float8E4M3.Encode(BitConverter.Int32BitsToSingle(unchecked((int)0xFFC0_0000))));
    }

    [Fact]
    public void E5m2_overflow_goes_to_infinity_from_the_midpoint_above_57344_and_saturating_clamps()
    {
        // 61440 is halfway between 57344 (mantissa 11, odd) and 65536 (= Inf's code 0x7C, even): ties to Inf, as torch.
        Assert.Equal(0x7C, Float8E5M2.Encode(61440f));
        Assert.Equal(0xFC, Float8E5M2.Encode(-61440f));
        Assert.Equal(0x7B, Float8E5M2.Encode(MathF.BitDecrement(61440f)));
        foreach (var x in new[] { 65536f, 1e9f, float.MaxValue, float.PositiveInfinity })
        {
            Assert.Equal(0x7C, Float8E5M2.Encode(x));
            Assert.Equal(0xFC, Float8E5M2.Encode(-x));
            Assert.Equal(0x7B, Float8E5M2.EncodeSaturating(x));
            Assert.Equal(0xFB, Float8E5M2.EncodeSaturating(-x));
        }
        Assert.Equal(0x7F, Float8E5M2.Encode(BitConverter.Int32BitsToSingle(0x7FC0_0000)));
        Assert.Equal(0xFF, Float8E5M2.Encode(BitConverter.Int32BitsToSingle(unchecked((int)0xFFC0_0000))));
        Assert.True(float.IsNaN(Float8E5M2.Decode(Float8E5M2.EncodeSaturating(float.NaN))));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Tiny_values_round_to_a_signed_zero(string name)
    {
        var f = Get(name);
        foreach (var x in new[] { float.Epsilon, 1e-30f, 1e-10f, MathF.Pow(2, name == "e4m3" ? -10 : -17) })
        {
            Assert.Equal(0x00, f.Encode(x));
            Assert.Equal(0x80, f.Encode(-x));
        }
        Assert.Equal(0x00, f.Encode(0f));
        Assert.Equal(0x80, f.Encode(-0f));
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Random_f32_inputs_encode_as_the_reference_rounds_them(string name)
    {
        var f = Get(name);
        var rng = new Random(1234);
        const int n = 40_000;
        var xs = new float[n];
        for (var i = 0; i < n; i++)
        {
            // Half the samples spread over the whole f32 range, half within the format's range (exponent −20..+17).
            xs[i] = (i & 1) == 0
                ? BitConverter.Int32BitsToSingle(rng.Next() | (rng.Next(2) << 31))
                : (float)((rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 18)));
        }
        var plain = new byte[n];
        var saturating = new byte[n];
        f.EncodeSpan(xs, plain);
        f.EncodeSaturatingSpan(xs, saturating);
        for (var i = 0; i < n; i++)
        {
            var x = xs[i];
            var expected = f.Reference.Encode(x);
            if (float.IsNaN(x))
            {
                Assert.True(f.Reference.IsNaN(plain[i]));
                continue;
            }
            Assert.True(expected == plain[i], $"{name}: {x:R} (0x{BitConverter.SingleToInt32Bits(x):X8}) → 0x{plain[i]:X2}, reference 0x{expected:X2}");
            Assert.Equal(plain[i], f.Encode(x));
            var clamped = Math.Max(-f.MaxValue, Math.Min(f.MaxValue, x));
            Assert.Equal(f.Reference.Encode(clamped), saturating[i]);
            Assert.Equal(saturating[i], f.EncodeSaturating(x));
        }
    }

    [Fact]
    public void Span_versions_check_lengths()
    {
        Assert.Throws<ArgumentException>(() => Float8E4M3.Encode(new float[3], new byte[2]));
        Assert.Throws<ArgumentException>(() => Float8E4M3.Decode(new byte[3], new float[2]));
        Assert.Throws<ArgumentException>(() => Float8E5M2.Encode(new float[3], new byte[2]));
        Assert.Throws<ArgumentException>(() => Float8E5M2.Decode(new byte[3], new float[2]));
    }

    // ---- worked examples from formats-fp8-fp4-kv.md ------------------------------------------------------------

    [Fact]
    public void Spec_2_3_quotients_encode_to_the_checkpoint_bytes()
    {
        float[] q = [15f, -36f, 448f, 0f, -144f, 104f, 1.5f, -384f];
        var bytes = new byte[q.Length];
        Float8E4M3.EncodeSaturating(q, bytes);
        Assert.Equal(Convert.FromHexString("57e17e00f16d3cfc"), bytes);
    }

    [Fact]
    public void Spec_2_3_bf16_weight_over_bf16_scale_gives_the_fp8_and_fp8_dynamic_bytes()
    {
        // The quotient is a bf16 division (f32 divide, rounded to bf16) before the clamp and the cast (spec §1.4).
        float[] w = [0.1f, -0.25f, 3.0f, 0f, -1f, 0.7f, 0.01f, -2.5f];
        static float Bf16(float x) => DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(x));
        byte Quantize(int i, float scale) => Float8E4M3.EncodeSaturating(Bf16(Bf16(w[i]) / scale));

        var perTensor = Enumerable.Range(0, 8).Select(i => Quantize(i, 0.006683349609375f)).ToArray();
        Assert.Equal(Convert.FromHexString("57e17e00f16d3cfc"), perTensor);
        var perChannel = Enumerable.Range(0, 8).Select(i => Quantize(i, i < 4 ? 0.006683349609375f : 0.005584716796875f)).ToArray();
        Assert.Equal(Convert.FromHexString("57e17e00f3703efe"), perChannel);
        float[] row1 = [-0.984375f, 0.71484375f, 0.009765625f, -2.5f];
        for (var j = 0; j < 4; j++) Assert.Equal(row1[j], Bf16(Float8E4M3.Decode(perChannel[4 + j]) * 0.005584716796875f));
    }

    [Fact]
    public void Spec_3_block_example_gives_the_checkpoint_bytes()
    {
        // 3×5 bf16 weight (arange(15) − 7)·0.37 with 2×2 blocks; the scales [2, 3] are the spec's.
        float[] scales = [0.00579833984375f, 0.004119873046875f, 0.002471923828125f, 0.0032958984375f, 0.00494384765625f, 0.00579833984375f];
        static float Bf16(float x) => DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(x));
        var bytes = new byte[15];
        for (var i = 0; i < 15; i++)
        {
            int r = i / 5, c = i % 5;
            var s = scales[(r / 2) * 3 + c / 2];
            bytes[i] = Float8E4M3.EncodeSaturating(Bf16(Bf16((i - 7) * 0.37f) / s));
        }
        Assert.Equal(Convert.FromHexString("fefcfefbfef0e8006b797a7e7c7e7e"), bytes);
    }

    [Fact]
    public void Spec_4_7_group_scales_448_and_11_23()
    {
        Assert.Equal(0x7E, Float8E4M3.EncodeSaturating(448f));
        Assert.Equal(0x53, Float8E4M3.EncodeSaturating(11.23f));
        Assert.Equal(11f, Float8E4M3.Decode(0x53));
        // Row 1's scale from its pieces: bf16 amax/6, then × G = 448 in f32, clamp, e4m3.
        var amaxOver6 = DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(0.150390625f / 6f));
        Assert.Equal(0x53, Float8E4M3.EncodeSaturating(448f * amaxOver6));
    }

    [Fact]
    public void Spec_5_2_mxfp8_row_1_starts_with_the_checkpoint_bytes()
    {
        // Row 1 = bf16 0.3·(i − 16); exponent 121 → scale 2^−6, so the quotient is the weight × 64 (exact).
        var bytes = new byte[4];
        for (var i = 0; i < 4; i++)
        {
            var w = DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(0.3f * (i - 16)));
            bytes[i] = Float8E4M3.EncodeSaturating(w / MathF.Pow(2, 121 - 127));
        }
        Assert.Equal(Convert.FromHexString("faf9f8f8"), bytes);
        Assert.Equal(new[] { -320f, -288f, -256f, -256f }, bytes.Select(Float8E4M3.Decode));
    }
}
