using Offload.Protocol;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>
/// bf16/f16 conversions at the bit level. The expected values come from references written here: bf16/f16 → value by
/// decoding sign/exponent/mantissa with Math.ScaleB, and f32 → bf16/f16 by picking the nearest representable value
/// in f64 with ties to the even mantissa.
/// </summary>
public sealed class DTypeConvertTests
{
    // ---- bf16 ------------------------------------------------------------------------------------------------

    [Fact]
    public void Every_bf16_pattern_widens_exactly_and_survives_the_round_trip()
    {
        var all = new ushort[65536];
        for (var i = 0; i < all.Length; i++) all[i] = (ushort)i;
        var widened = new float[all.Length];
        TensorConvert.BF16ToF32(all, widened);
        var back = new ushort[all.Length];
        TensorConvert.F32ToBF16(widened, back);
        for (var i = 0; i < all.Length; i++)
        {
            var bits = (ushort)i;
            var scalar = DTypeConvert.BF16ToF32(bits);
            Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(widened[i]));
            var value = DecodeBF16(bits);
            if (double.IsNaN(value))
            {
                Assert.True(float.IsNaN(scalar), $"bf16 0x{i:X4} is NaN but widened to {scalar}");
                Assert.True(IsBF16NaN(back[i]), $"bf16 NaN 0x{i:X4} came back as 0x{back[i]:X4}");
            }
            else
            {
                Assert.Equal(value, (double)scalar);
                Assert.Equal(BitConverter.DoubleToInt64Bits(value) < 0, float.IsNegative(scalar));
            }
            // bf16 → f32 → bf16 keeps the bits, NaN payloads included.
            Assert.Equal(bits, DTypeConvert.F32ToBF16(scalar));
            Assert.Equal(bits, back[i]);
        }
    }

    [Theory]
    [InlineData(0x3F80_8000u, 0x3F80)] // 1 + 2⁻⁸: halfway between 0x3F80 and 0x3F81 → even 0x3F80
    [InlineData(0x3F81_8000u, 0x3F82)] // halfway between 0x3F81 and 0x3F82 → even 0x3F82
    [InlineData(0x3F80_8001u, 0x3F81)] // just above halfway → up
    [InlineData(0x3F80_7FFFu, 0x3F80)] // just below halfway → down
    [InlineData(0x3F81_7FFFu, 0x3F81)]
    [InlineData(0x3F81_8001u, 0x3F82)]
    [InlineData(0xBF80_8000u, 0xBF80)] // the same ties on the negative side
    [InlineData(0xBF81_8000u, 0xBF82)]
    [InlineData(0xBF80_8001u, 0xBF81)]
    [InlineData(0x3FFF_8000u, 0x4000)] // a tie whose rounding carries into the exponent
    [InlineData(0x7F7F_7FFFu, 0x7F7F)] // below halfway to the top: the largest finite bf16
    [InlineData(0x7F7F_8000u, 0x7F80)] // halfway between 0x7F7F (odd) and 0x7F80 → even, which is +Inf: overflow
    [InlineData(0x7F7F_FFFFu, 0x7F80)] // f32 max overflows to +Inf
    [InlineData(0xFF7F_FFFFu, 0xFF80)] // −f32 max overflows to −Inf
    [InlineData(0x7F80_0000u, 0x7F80)] // +Inf
    [InlineData(0xFF80_0000u, 0xFF80)] // −Inf
    [InlineData(0x0000_0000u, 0x0000)] // +0
    [InlineData(0x8000_0000u, 0x8000)] // −0
    [InlineData(0x0000_8000u, 0x0000)] // subnormal tie between 0 and the smallest bf16 subnormal → even 0
    [InlineData(0x0001_8000u, 0x0002)] // subnormal tie between 0x0001 and 0x0002 → even 0x0002
    [InlineData(0x0000_8001u, 0x0001)] // just above the subnormal tie
    [InlineData(0x0000_0001u, 0x0000)] // the smallest f32 subnormal rounds to +0
    [InlineData(0x8000_8000u, 0x8000)] // negative subnormal tie → −0
    [InlineData(0x007F_FFFFu, 0x0080)] // the largest f32 subnormal rounds up to the smallest normal
    [InlineData(0x7FC0_0000u, 0x7FC0)] // quiet NaN
    [InlineData(0xFFC1_2345u, 0xFFC1)] // negative NaN keeps sign and top payload
    [InlineData(0x7FA0_0000u, 0x7FA0)] // signalling NaN with payload in the kept bits: kept as is
    [InlineData(0x7F80_0001u, 0x7FC0)] // NaN whose payload is all in the dropped bits: quiet bit set, not Inf
    [InlineData(0xFF80_8000u, 0xFFC0)]
    public void F32_to_bf16_rounds_to_nearest_even_at_the_bit_level(uint f32Bits, int bf16Bits)
    {
        var value = BitConverter.UInt32BitsToSingle(f32Bits);
        Assert.Equal((ushort)bf16Bits, DTypeConvert.F32ToBF16(value));
        // The vector path must agree at every position of a vector and in the scalar tail.
        var src = Enumerable.Repeat(value, 37).ToArray();
        var dst = new ushort[37];
        TensorConvert.F32ToBF16(src, dst);
        Assert.All(dst, d => Assert.Equal((ushort)bf16Bits, d));
    }

    [Fact]
    public void F32_to_bf16_matches_the_nearest_even_reference_on_random_and_tie_patterns()
    {
        var patterns = Patterns(20240601);
        var values = patterns.Select(BitConverter.UInt32BitsToSingle).ToArray();
        var vector = new ushort[values.Length];
        TensorConvert.F32ToBF16(values, vector);
        for (var i = 0; i < values.Length; i++)
        {
            var expected = NearestBF16(values[i]);
            var scalar = DTypeConvert.F32ToBF16(values[i]);
            if (float.IsNaN(values[i]))
            {
                Assert.True(IsBF16NaN(scalar) && IsBF16NaN(vector[i]), $"NaN 0x{patterns[i]:X8} lost");
                Assert.Equal(float.IsNegative(values[i]), (scalar & 0x8000) != 0);
                continue;
            }
            if (expected != scalar) Assert.Fail($"0x{patterns[i]:X8}: got 0x{scalar:X4}, nearest-even is 0x{expected:X4}");
            if (vector[i] != scalar) Assert.Fail($"0x{patterns[i]:X8}: vector path gave 0x{vector[i]:X4}, scalar 0x{scalar:X4}");
        }
    }

    [Fact]
    public void Span_conversions_handle_every_length_and_tail()
    {
        var rng = new Random(7);
        for (var n = 0; n <= 67; n++)
        {
            var f = new float[n];
            for (var i = 0; i < n; i++) f[i] = (float)(rng.NextDouble() * 200 - 100);
            var b = new ushort[n];
            TensorConvert.F32ToBF16(f, b);
            var w = new float[n];
            TensorConvert.BF16ToF32(b, w);
            for (var i = 0; i < n; i++)
            {
                Assert.Equal(NearestBF16(f[i]), b[i]);
                Assert.Equal(DecodeBF16(b[i]), (double)w[i]);
            }
        }
    }

    // ---- f16 -------------------------------------------------------------------------------------------------

    [Fact]
    public void Every_f16_pattern_widens_exactly()
    {
        for (var i = 0; i < 65536; i++)
        {
            var bits = (ushort)i;
            var f = DTypeConvert.F16ToF32(bits);
            var value = DecodeF16(bits);
            if (double.IsNaN(value))
            {
                Assert.True(float.IsNaN(f));
                Assert.True(IsF16NaN(DTypeConvert.F32ToF16(f)), $"f16 NaN 0x{i:X4} did not stay NaN");
                continue;
            }
            Assert.Equal(value, (double)f);
            Assert.Equal(BitConverter.DoubleToInt64Bits(value) < 0, float.IsNegative(f));
            Assert.Equal(bits, DTypeConvert.F32ToF16(f)); // every finite f16 and ±Inf survive the round trip
        }
    }

    [Theory]
    [InlineData(0x3F80_1000u, 0x3C00)] // 1 + 2⁻¹¹: halfway between 1 and 1 + 2⁻¹⁰ → even 0x3C00
    [InlineData(0x3F80_3000u, 0x3C02)] // 1 + 3·2⁻¹¹: halfway between 0x3C01 and 0x3C02 → even 0x3C02
    [InlineData(0x3F80_1001u, 0x3C01)] // just above halfway → up
    [InlineData(0x3F80_0FFFu, 0x3C00)] // just below halfway → down
    [InlineData(0xBF80_1000u, 0xBC00)] // negative tie
    [InlineData(0xBF80_3000u, 0xBC02)]
    [InlineData(0x477F_E000u, 0x7BFF)] // 65504, the largest f16
    [InlineData(0x477F_EFFFu, 0x7BFF)] // just below 65520: stays finite
    [InlineData(0x477F_F000u, 0x7C00)] // 65520, halfway to 65536 → even, which is +Inf: overflow
    [InlineData(0xC77F_F000u, 0xFC00)] // −65520 → −Inf
    [InlineData(0x501502F9u, 0x7C00)] // 1e10 → +Inf
    [InlineData(0x7F80_0000u, 0x7C00)] // +Inf
    [InlineData(0xFF80_0000u, 0xFC00)] // −Inf
    [InlineData(0x0000_0000u, 0x0000)] // +0
    [InlineData(0x8000_0000u, 0x8000)] // −0
    [InlineData(0x3380_0000u, 0x0001)] // 2⁻²⁴, the smallest f16 subnormal
    [InlineData(0x3300_0000u, 0x0000)] // 2⁻²⁵: halfway between 0 and 2⁻²⁴ → even 0
    [InlineData(0x3300_0001u, 0x0001)] // just above that tie
    [InlineData(0x33C0_0000u, 0x0002)] // 3·2⁻²⁵: halfway between 0x0001 and 0x0002 → even 0x0002
    [InlineData(0xB300_0000u, 0x8000)] // negative subnormal tie → −0
    [InlineData(0x387F_E000u, 0x0400)] // 1023.5·2⁻²⁴: halfway between the largest subnormal (odd) and the smallest normal → 0x0400
    [InlineData(0x387F_DFFFu, 0x03FF)]
    [InlineData(0x387F_C000u, 0x03FF)] // 1023·2⁻²⁴ exactly: the largest subnormal
    [InlineData(0x2F80_0000u, 0x0000)] // 2⁻³⁶ underflows to +0
    public void F32_to_f16_rounds_to_nearest_even_at_the_bit_level(uint f32Bits, int f16Bits)
    {
        var value = BitConverter.UInt32BitsToSingle(f32Bits);
        Assert.Equal((ushort)f16Bits, DTypeConvert.F32ToF16(value));
        var src = Enumerable.Repeat(value, 37).ToArray();
        var dst = new Half[37];
        TensorConvert.F32ToF16(src, dst);
        Assert.All(dst, d => Assert.Equal((ushort)f16Bits, BitConverter.HalfToUInt16Bits(d)));
    }

    [Fact]
    public void F32_to_f16_keeps_NaN_and_its_sign()
    {
        foreach (var bits in new[] { 0x7FC0_0000u, 0xFFC0_0000u, 0x7F80_0001u, 0xFFA5_5555u })
        {
            var h = DTypeConvert.F32ToF16(BitConverter.UInt32BitsToSingle(bits));
            Assert.True(IsF16NaN(h), $"0x{bits:X8} → 0x{h:X4} is not NaN");
            Assert.Equal((bits & 0x8000_0000u) != 0, (h & 0x8000) != 0);
        }
    }

    [Fact]
    public void F32_to_f16_matches_the_nearest_even_reference_on_random_and_tie_patterns()
    {
        var table = FiniteF16Table();
        var patterns = Patterns(99);
        var values = patterns.Select(BitConverter.UInt32BitsToSingle).Where(v => !float.IsNaN(v)).ToArray();
        var vector = new Half[values.Length];
        TensorConvert.F32ToF16(values, vector);
        for (var i = 0; i < values.Length; i++)
        {
            var expected = NearestF16(values[i], table);
            var scalar = DTypeConvert.F32ToF16(values[i]);
            if (expected != scalar) Assert.Fail($"{values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):X8}): got 0x{scalar:X4}, nearest-even is 0x{expected:X4}");
            Assert.Equal(scalar, BitConverter.HalfToUInt16Bits(vector[i]));
        }
    }

    // ---- tensors ---------------------------------------------------------------------------------------------

    [Fact]
    public void Tensor_To_converts_through_the_same_rounding()
    {
        var values = Patterns(5).Take(4099).Select(BitConverter.UInt32BitsToSingle).ToArray();
        using var t = Tensor.FromArray(values, values.Length);
        using var bf = t.To(DType.BF16);
        using var h = t.To(DType.F16);
        var bfBits = bf.ReadOnlySpan<ushort>();
        var hBits = h.ReadOnlySpan<Half>();
        for (var i = 0; i < values.Length; i++)
        {
            Assert.Equal(DTypeConvert.F32ToBF16(values[i]), bfBits[i]);
            Assert.Equal(DTypeConvert.F32ToF16(values[i]), BitConverter.HalfToUInt16Bits(hBits[i]));
        }
        using var back = bf.To(DType.F32);
        var w = back.ReadOnlySpan<float>();
        for (var i = 0; i < values.Length; i++)
            Assert.Equal(BitConverter.SingleToInt32Bits(DTypeConvert.BF16ToF32(bfBits[i])), BitConverter.SingleToInt32Bits(w[i]));
    }

    // ---- references ------------------------------------------------------------------------------------------

    /// <summary>Random f32 patterns plus, for random bf16 tops, the patterns just below, at and just above each tie,
    /// and the f16 ties (low 13 bits 0x1000 ± 1) near f16's normal and subnormal ranges.</summary>
    private static uint[] Patterns(int seed)
    {
        var rng = new Random(seed);
        var list = new List<uint>();
        for (var i = 0; i < 200_000; i++) list.Add((uint)rng.NextInt64(0, 1L << 32));
        for (var i = 0; i < 20_000; i++)
        {
            var top = (uint)rng.Next(0, 65536) << 16;
            list.Add(top | 0x7FFF);
            list.Add(top | 0x8000);
            list.Add(top | 0x8001);
            // f16-relevant: exponents 2⁻²⁶ .. 2¹⁷ with the 13 dropped mantissa bits at and around the tie.
            var exp = (uint)rng.Next(127 - 26, 127 + 17) << 23;
            var mant = (uint)rng.Next(0, 1 << 10) << 13;
            var sign = (uint)rng.Next(0, 2) << 31;
            list.Add(sign | exp | mant | 0x0FFF);
            list.Add(sign | exp | mant | 0x1000);
            list.Add(sign | exp | mant | 0x1001);
        }
        return list.ToArray();
    }

    private static double DecodeBF16(ushort bits)
    {
        var sign = (bits & 0x8000) != 0 ? -1.0 : 1.0;
        var exp = (bits >> 7) & 0xFF;
        var mant = bits & 0x7F;
        if (exp == 0xFF) return mant == 0 ? sign * double.PositiveInfinity : double.NaN;
        if (exp == 0) return sign * Math.ScaleB(mant, -126 - 7);
        return sign * Math.ScaleB(128 + mant, exp - 127 - 7);
    }

    private static double DecodeF16(ushort bits)
    {
        var sign = (bits & 0x8000) != 0 ? -1.0 : 1.0;
        var exp = (bits >> 10) & 0x1F;
        var mant = bits & 0x3FF;
        if (exp == 0x1F) return mant == 0 ? sign * double.PositiveInfinity : double.NaN;
        if (exp == 0) return sign * Math.ScaleB(mant, -14 - 10);
        return sign * Math.ScaleB(1024 + mant, exp - 15 - 10);
    }

    private static bool IsBF16NaN(ushort bits) => (bits & 0x7F80) == 0x7F80 && (bits & 0x7F) != 0;
    private static bool IsF16NaN(ushort bits) => (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0;

    /// <summary>Nearest bf16 to a non-NaN f32, ties to the even mantissa, by comparing the two bf16 neighbours in f64.</summary>
    private static ushort NearestBF16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        var down = (ushort)(bits >> 16); // truncation: the neighbour toward zero
        if ((bits & 0xFFFF) == 0) return down;
        var up = (ushort)(down + 1);     // away from zero (0x7F7F + 1 = Inf, as IEEE rounding wants)
        var x = (double)value;
        var dDown = Math.Abs(x - DecodeBF16(down));
        var upValue = DecodeBF16(up);
        // Overflow: a value beyond the halfway point to 2^128 rounds to Inf; that point is the upper neighbour's "value".
        var dUp = double.IsInfinity(upValue) ? Math.Abs(Math.Abs(x) - Math.ScaleB(1.0, 128)) : Math.Abs(x - upValue);
        if (dDown < dUp) return down;
        if (dUp < dDown) return up;
        return (down & 1) == 0 ? down : up;
    }

    /// <summary>All finite non-negative f16 values in order, with their bits.</summary>
    private static (double Value, ushort Bits)[] FiniteF16Table()
    {
        var list = new List<(double, ushort)>();
        for (ushort b = 0; b < 0x7C00; b++) list.Add((DecodeF16(b), b));
        return list.ToArray();
    }

    /// <summary>Nearest f16 by binary search over the table; ties to the even mantissa; |x| ≥ 65520 (halfway to 2¹⁶) → Inf.</summary>
    private static ushort NearestF16(float value, (double Value, ushort Bits)[] table)
    {
        var sign = float.IsNegative(value) ? (ushort)0x8000 : (ushort)0;
        var x = Math.Abs((double)value);
        if (x >= 65520) return (ushort)(sign | 0x7C00);
        int lo = 0, hi = table.Length - 1;
        while (hi - lo > 1)
        {
            var mid = (lo + hi) / 2;
            if (table[mid].Value <= x) lo = mid;
            else hi = mid;
        }
        var (vLo, bLo) = table[lo];
        var (vHi, bHi) = table[hi];
        ushort pick;
        if (x == vLo) pick = bLo;
        else if (x == vHi) pick = bHi;
        else if (x - vLo < vHi - x) pick = bLo;
        else if (vHi - x < x - vLo) pick = bHi;
        else pick = (bLo & 1) == 0 ? bLo : bHi;
        return (ushort)(sign | pick);
    }
}
