using Offload.Protocol;
using Offload.Tensors;
using Offload.Transforms.Apply;
using Offload.Transforms.Random;
using Xunit;

namespace Offload.Transforms.Tests;

public class NumericsTests
{
    /// <summary>Nearest bf16 to v (ties to even), by bracketing v between consecutive bf16 values in exact f64.</summary>
    private static double NearestBf16(double v)
    {
        // bf16 values are floats whose low 16 bits are zero; every one is exact in f64.
        var f = (float)v;
        var bits = BitConverter.SingleToUInt32Bits(f) & 0xFFFF0000u;
        var candidates = new List<double>();
        for (var delta = -2; delta <= 2; delta++)
        {
            var b = unchecked((uint)((int)bits + delta * 0x10000));
            var c = (double)BitConverter.UInt32BitsToSingle(b);
            if (!double.IsNaN(c) && !double.IsInfinity(c)) candidates.Add(c);
        }
        var best = candidates.OrderBy(c => Math.Abs(c - v)).ThenBy(c => (BitConverter.SingleToUInt32Bits((float)c) >> 16) & 1).First();
        return best;
    }

    [Fact]
    public void F64ToBf16RoundsOnce()
    {
        var rng = new System.Random(1);
        var checkedTies = 0;
        for (var i = 0; i < 200_000; i++)
        {
            double v;
            if (i % 4 == 0)
            {
                // just above a bf16 tie: f64 → f32 → bf16 would round twice and land on the wrong side
                var baseBits = (uint)rng.Next(0x3F80, 0x4080) << 16;
                v = BitConverter.UInt32BitsToSingle(baseBits | 0x8000) + Math.Pow(2, -40) * (rng.Next(2) * 2 - 1);
                checkedTies++;
            }
            else
            {
                v = (rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-20, 20));
            }
            var actual = DTypeConvert.BF16ToF32(FloatRounding.ToBF16Bits(v));
            Assert.Equal(NearestBf16(v), (double)actual);
        }
        Assert.True(checkedTies > 0);
    }

    [Fact]
    public void F64ToHalfRoundsOnce()
    {
        var rng = new System.Random(2);
        for (var i = 0; i < 100_000; i++)
        {
            var v = (rng.NextDouble() * 2 - 1) * Math.Pow(2, rng.Next(-10, 12));
            var h = FloatRounding.ToHalf(v);
            // reference: the two f16 neighbours bracketing v, exact in f64
            var lo = (double)BitConverter.UInt16BitsToHalf((ushort)(BitConverter.HalfToUInt16Bits(h) - 1));
            var hi = (double)BitConverter.UInt16BitsToHalf((ushort)(BitConverter.HalfToUInt16Bits(h) + 1));
            var d = Math.Abs((double)h - v);
            Assert.True(d <= Math.Abs(lo - v) && d <= Math.Abs(hi - v), $"{v}: {h} is not the nearest f16");
        }
    }

    [Fact]
    public void FusedWritesRoundOnceToTheWeightDtype()
    {
        double[] values = [1.0 + Math.Pow(2, -9) + Math.Pow(2, -30), -3.25, 1e-3];
        using var t = Tensor.Zeros(DType.BF16, 3);
        FloatRounding.Write(values, t);
        var back = t.ToDoubleArray();
        for (var i = 0; i < values.Length; i++) Assert.Equal(NearestBf16(values[i]), back[i]);
    }

    [Fact]
    public void InverseOfAUniformMatrixIsAnInverse()
    {
        const int n = 40;
        var r = RandomMatrices.Uniform(new Mt19937(3), n);
        Assert.All(r, v => Assert.InRange(v, 0.0, 1.0 - 1e-17));
        var inv = MatrixInverse.Invert(r, n);
        var product = Reference.MatMul(r, inv, n, n, n);
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                Assert.Equal(i == j ? 1.0 : 0.0, product[i * n + j], 9); // f64 with cond(R) ~ 10²–10³
        Assert.Throws<ArgumentException>(() => MatrixInverse.Invert(new double[] { 1, 2, 2, 4 }, 2));
    }

    [Fact]
    public void OrthogonalMatricesAreOrthogonalAndSeeded()
    {
        const int n = 64;
        var q = RandomMatrices.Orthogonal(new Mt19937(5), n);
        var qqT = Reference.MatMul(q, Reference.Transpose(q, n, n), n, n, n);
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                Assert.Equal(i == j ? 1.0 : 0.0, qqT[i * n + j], 12);
        Assert.Equal(q, RandomMatrices.Orthogonal(new Mt19937(5), n));
        Assert.NotEqual(q, RandomMatrices.Orthogonal(new Mt19937(6), n));
    }

    [Fact]
    public void UniformDrawsUseTorchsBitRecipes()
    {
        var g = new Mt19937(42);
        // f32: 24 low bits of one output; f64: 53 low bits of (first << 32 | second)
        Assert.Equal((1608637542u & 0xFFFFFF) / (double)(1 << 24), RandomMatrices.UniformF32(g));
        var g2 = new Mt19937(42);
        var bits = (((ulong)1608637542u << 32) | 3421126067u) & ((1UL << 53) - 1);
        Assert.Equal(bits / (double)(1UL << 53), RandomMatrices.UniformF64(g2));
    }
}
