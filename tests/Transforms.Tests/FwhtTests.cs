using Offload.Tensors.Kernels;
using Xunit;

namespace Offload.Transforms.Tests;

public class FwhtTests
{
    public static TheoryData<int, int> Shapes()
    {
        var data = new TheoryData<int, int>();
        for (var n = 1; n <= 4096; n *= 2)
            foreach (var rows in new[] { 1, 3, 7 })
                data.Add(n, rows);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RowsF32MatchTheScalarDefinitionBitForBit(int n, int rows)
    {
        var values = Reference.RandomDoubles(n * rows, seed: n * 31 + rows);
        var actual = values.Select(v => (float)v).ToArray();
        var expected = (float[])actual.Clone();
        Fwht.TransformRows(actual, n);
        for (var r = 0; r < rows; r++) Reference.ScalarFwht(expected.AsSpan(r * n, n));
        Assert.Equal(expected, actual); // same additions in the same order, so the SIMD path must be bit-identical
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void RowsF64MatchTheScalarDefinitionBitForBit(int n, int rows)
    {
        var actual = Reference.RandomDoubles(n * rows, seed: n * 17 + rows);
        var expected = (double[])actual.Clone();
        Fwht.TransformRows(actual, n);
        for (var r = 0; r < rows; r++) Reference.ScalarFwht(expected.AsSpan(r * n, n));
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(512)]
    public void IsTheProductWithTheSylvesterMatrixExactlyOnIntegers(int n)
    {
        // Integer inputs keep every partial sum an integer below 2^53, so both sides are exact.
        var rng = new System.Random(n);
        var x = Enumerable.Range(0, n).Select(_ => (double)rng.Next(-1000, 1000)).ToArray();
        var expected = Reference.MatMul(x, Reference.Sylvester(n), 1, n, n);
        Fwht.Transform(x);
        Assert.Equal(expected, x);
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 9)]
    [InlineData(16, 33)]
    [InlineData(256, 3)]
    public void ColumnsTransformEachColumn(int n, int cols)
    {
        var data = Reference.RandomDoubles(n * cols, seed: n + cols);
        var f = data.Select(v => (float)v).ToArray();
        var expected = new double[data.Length];
        var expectedF = new float[data.Length];
        for (var c = 0; c < cols; c++)
        {
            var col = Enumerable.Range(0, n).Select(i => data[i * cols + c]).ToArray();
            var colF = col.Select(v => (float)v).ToArray();
            Reference.ScalarFwht(col);
            Reference.ScalarFwht(colF);
            for (var i = 0; i < n; i++)
            {
                expected[i * cols + c] = col[i];
                expectedF[i * cols + c] = colF[i];
            }
        }
        Fwht.TransformColumns(data, n, cols);
        Fwht.TransformColumns(f, n, cols);
        Assert.Equal(expected, data);
        Assert.Equal(expectedF, f);
    }

    [Fact]
    public void StridedColumnsLeaveTheOtherColumnsAlone()
    {
        const int n = 8, stride = 20, c0 = 5, cols = 11;
        var data = Reference.RandomDoubles(n * stride, seed: 3);
        var expected = (double[])data.Clone();
        for (var c = c0; c < c0 + cols; c++)
        {
            var col = Enumerable.Range(0, n).Select(i => expected[i * stride + c]).ToArray();
            Reference.ScalarFwht(col);
            for (var i = 0; i < n; i++) expected[i * stride + c] = col[i];
        }
        Fwht.TransformColumns(data.AsSpan(c0), n, cols, stride);
        Assert.Equal(expected, data);
    }

    [Fact]
    public void TwiceIsNTimesTheInput()
    {
        const int n = 1024;
        var x = Reference.RandomDoubles(n, seed: 9).Select(v => Math.Round(v * 100)).ToArray();
        var y = (double[])x.Clone();
        Fwht.Transform(y);
        Fwht.Transform(y);
        Assert.Equal(x.Select(v => v * n).ToArray(), y); // S·S = n·I, exact on integers
    }

    [Fact]
    public void RejectsLengthsThatAreNotPowersOfTwo()
    {
        Assert.Throws<ArgumentException>(() => Fwht.Transform(new double[12]));
        Assert.Throws<ArgumentException>(() => Fwht.TransformRows(new float[10], 4));
        Assert.Throws<ArgumentException>(() => Fwht.TransformColumns(new double[12], 3, 4));
    }
}
