using Offload.Tensors.Formats;
using Xunit;

namespace Offload.Tensors.Tests.Formats;

/// <summary>
/// fp4 e2m1 against the spec's table (formats-fp8-fp4-kv.md §4.2), a nearest-grid-value reference with ties to the
/// even index, the packing rule (§4.3) and the worked examples (§4.3, §4.7, §5.2).
/// </summary>
public sealed class Fp4E2M1Tests
{
    private static readonly double[] Grid = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

    /// <summary>Reference: nearest grid magnitude, ties to the even index, beyond 6 → 6; sign bit when y &lt; 0.</summary>
    private static int Reference(double y)
    {
        var a = Math.Abs(y);
        var best = 0;
        for (var i = 1; i < Grid.Length; i++)
        {
            var d = Math.Abs(Grid[i] - a);
            var bestD = Math.Abs(Grid[best] - a);
            if (d < bestD || (d == bestD && (i & 1) == 0)) best = i;
        }
        return y < 0 ? best | 8 : best;
    }

    [Fact]
    public void All_16_codes_decode()
    {
        double[] expected = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6];
        var nibbles = new byte[16];
        for (var i = 0; i < 16; i++) nibbles[i] = (byte)i;
        var span = new float[16];
        Fp4E2M1.Decode(nibbles, span);
        for (var c = 0; c < 16; c++)
        {
            Assert.Equal(expected[c], (double)Fp4E2M1.Decode((byte)c));
            Assert.Equal(c >= 8, float.IsNegative(Fp4E2M1.Decode((byte)c)));
            Assert.Equal(BitConverter.SingleToInt32Bits(Fp4E2M1.Decode((byte)c)), BitConverter.SingleToInt32Bits(span[c]));
            Assert.Equal(Fp4E2M1.Decode((byte)c), Fp4E2M1.Decode((byte)(c | 0xF0))); // only the low nibble counts
            if (c != 8) Assert.Equal(c, Fp4E2M1.Encode(Fp4E2M1.Decode((byte)c)));
        }
        Assert.Equal(0, Fp4E2M1.Encode(-0f)); // an exact −0 input is +0 (sign(−0) = 0)
    }

    [Theory]
    // the spec's table: ties
    [InlineData(0.25f, 0)]
    [InlineData(0.75f, 2)]
    [InlineData(1.25f, 2)]
    [InlineData(1.75f, 4)]
    [InlineData(2.5f, 4)]
    [InlineData(3.5f, 6)]
    [InlineData(5f, 6)]
    // inside the ranges and the saturation
    [InlineData(0f, 0)]
    [InlineData(0.3f, 1)]
    [InlineData(0.7f, 1)]
    [InlineData(1.3f, 3)]
    [InlineData(2.6f, 5)]
    [InlineData(3.4f, 5)]
    [InlineData(5.1f, 7)]
    [InlineData(6f, 7)]
    [InlineData(100f, 7)]
    [InlineData(float.PositiveInfinity, 7)]
    public void Ties_follow_the_table_and_large_values_saturate(float y, int code)
    {
        Assert.Equal(code, Fp4E2M1.Encode(y));
        if (y != 0) Assert.Equal(code | 8, Fp4E2M1.Encode(-y));
    }

    [Theory]
    [InlineData(0.25f)]
    [InlineData(0.75f)]
    [InlineData(1.25f)]
    [InlineData(1.75f)]
    [InlineData(2.5f)]
    [InlineData(3.5f)]
    [InlineData(5f)]
    public void A_hair_either_side_of_a_tie_goes_to_the_nearer_value(float tie)
    {
        var below = Array.FindLastIndex(Grid, g => g < tie);
        Assert.Equal(below, Fp4E2M1.Encode(MathF.BitDecrement(tie)));
        Assert.Equal(below + 1, Fp4E2M1.Encode(MathF.BitIncrement(tie)));
        Assert.Equal(below | 8, Fp4E2M1.Encode(-MathF.BitDecrement(tie)));
        Assert.Equal((below + 1) | 8, Fp4E2M1.Encode(-MathF.BitIncrement(tie)));
    }

    [Fact]
    public void Small_negatives_give_minus_zero_and_exact_zeros_give_plus_zero()
    {
        Assert.Equal(0x8, Fp4E2M1.Encode(-0.05f));
        Assert.Equal(0x8, Fp4E2M1.Encode(-0.25f));
        Assert.Equal(0x8, Fp4E2M1.Encode(-float.Epsilon));
        Assert.Equal(0x0, Fp4E2M1.Encode(0f));
        Assert.Equal(0x0, Fp4E2M1.Encode(-0f));
        Assert.Equal(0xF, Fp4E2M1.Encode(float.NegativeInfinity));
    }

    [Fact]
    public void Random_inputs_encode_as_the_reference_rounds_them()
    {
        var rng = new Random(99);
        var xs = new float[20_000];
        for (var i = 0; i < xs.Length; i++) xs[i] = (float)((rng.NextDouble() * 2 - 1) * (i % 3 == 0 ? 8 : 2));
        // Every multiple of 1/8 in [−8, 8] as well, which lands on every tie.
        for (var i = 0; i < 129; i++) xs[i] = (i - 64) / 8f;
        var codes = new byte[xs.Length];
        Fp4E2M1.Encode(xs, codes);
        for (var i = 0; i < xs.Length; i++)
        {
            Assert.True(Reference(xs[i]) == codes[i], $"{xs[i]:R} → 0x{codes[i]:X}, reference 0x{Reference(xs[i]):X}");
            Assert.Equal(codes[i], Fp4E2M1.Encode(xs[i]));
        }
    }

    [Fact]
    public void Pack_puts_element_2j_low_and_2j_plus_1_high_and_unpack_inverts_it()
    {
        byte[] nibbles = [0x1, 0x2, 0xF, 0x0, 0x8, 0x7];
        var packed = new byte[3];
        Fp4E2M1.Pack(nibbles, packed);
        Assert.Equal(new byte[] { 0x21, 0x0F, 0x78 }, packed);
        var back = new byte[6];
        Fp4E2M1.Unpack(packed, back);
        Assert.Equal(nibbles, back);

        var all = new byte[256];
        for (var i = 0; i < 256; i++) all[i] = (byte)i;
        var unpacked = new byte[512];
        Fp4E2M1.Unpack(all, unpacked);
        var repacked = new byte[256];
        Fp4E2M1.Pack(unpacked, repacked);
        Assert.Equal(all, repacked);
        var decoded = new float[512];
        Fp4E2M1.DecodePacked(all, decoded);
        for (var i = 0; i < 512; i++) Assert.Equal(BitConverter.SingleToInt32Bits(Fp4E2M1.Decode(unpacked[i])), BitConverter.SingleToInt32Bits(decoded[i]));
    }

    [Fact]
    public void Odd_lengths_and_short_destinations_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Fp4E2M1.Pack(new byte[3], new byte[2]));
        Assert.Throws<ArgumentException>(() => Fp4E2M1.EncodePacked(new float[3], new byte[2]));
        Assert.Throws<ArgumentException>(() => Fp4E2M1.Pack(new byte[4], new byte[1]));
        Assert.Throws<ArgumentException>(() => Fp4E2M1.Unpack(new byte[2], new byte[3]));
        Assert.Throws<ArgumentException>(() => Fp4E2M1.DecodePacked(new byte[2], new float[3]));
        Assert.Throws<ArgumentException>(() => Fp4E2M1.Encode(new float[3], new byte[2]));
    }

    // ---- worked examples from formats-fp8-fp4-kv.md ------------------------------------------------------------

    [Fact]
    public void Spec_4_3_minus_0_1_and_0_1_pack_to_08()
    {
        var packed = new byte[1];
        Fp4E2M1.EncodePacked([-0.1f, 0.1f], packed);
        Assert.Equal(0x08, packed[0]);
    }

    [Fact]
    public void Spec_4_7_nvfp4_rows_pack_to_the_checkpoint_bytes()
    {
        // Row 0 at scale 1 (G = 448, s = 448: the effective scale 448/448 is 1).
        float[] row0 = [0f, 0.05f, -0.05f, 0.1f, 0.2f, -0.3f, 0.5f, 0.75f, -1f, 1.25f, 1.5f, -2f, 2.5f, 3f, -4f, 6f];
        var packed = new byte[8];
        Fp4E2M1.EncodePacked(row0, packed);
        Assert.Equal(Convert.FromHexString("000890212ac3547e"), packed);

        // Row 1 = bf16 0.01·i; s = 11 (e4m3), G = 448: y = w / (s/G) in f32.
        var sEff = 11f / 448f;
        var y = new float[16];
        for (var i = 0; i < 16; i++) y[i] = DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(0.01f * i)) / sEff;
        var nibbles = new byte[16];
        Fp4E2M1.Encode(y, nibbles);
        Fp4E2M1.Pack(nibbles, packed);
        Assert.Equal(Convert.FromHexString("1022435465667677"), packed);
    }

    [Fact]
    public void Spec_5_2_mxfp4_rows()
    {
        // Row 0 = bf16 0.01·(i − 10), exponent 122 → scale 2^−5; the quotient is clamped to ±6 (spec §5.1).
        var y = new float[16];
        for (var i = 0; i < 16; i++)
            y[i] = Math.Clamp(DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(0.01f * (i - 10))) / MathF.Pow(2, -5), -6f, 6f);
        var packed = new byte[8];
        Fp4E2M1.EncodePacked(y, packed);
        Assert.Equal(Convert.FromHexString("ddcdbcab99102133"), packed);
        // The row's amax 0.2099609375 / 2^−5 = 6.72 clamps to 6 (nibble 7); row 1's −4.8125 at scale 1 stores as −4.
        Assert.Equal(0x7, Fp4E2M1.Encode(Math.Clamp(0.2099609375f / MathF.Pow(2, -5), -6f, 6f)));
        Assert.Equal(0xE, Fp4E2M1.Encode(-4.8125f));
    }
}
