using Offload.Compression.Checkpoint;
using Xunit;

namespace Offload.Compression.Tests;

public class PackTests
{
    private static int[] Pack(int bits, params sbyte[] codes)
    {
        var packed = new int[Int32Packer.PackedLength(codes.Length, bits)];
        Int32Packer.Pack(codes, 1, codes.Length, bits, packed);
        return packed;
    }

    [Fact]
    public void Worked_words_of_the_spec_are_reproduced_bit_exactly()
    {
        Assert.Equal([unchecked((int)0x8FEDCBA9)], Pack(4, 1, 2, 3, 4, 5, 6, 7, 0));
        Assert.Equal(-1880241239, Pack(4, 1, 2, 3, 4, 5, 6, 7, 0)[0]);
        Assert.Equal([19088743], Pack(4, -1, -2, -3, -4, -5, -6, -7, -8));
        Assert.Equal([2985], Pack(4, 1, 2, 3));
        Assert.Equal([33409], Pack(8, 1, 2));
    }

    /// <summary>An independent reference: element i's bit j goes to global bit i·b + j of the row, LSB first.</summary>
    private static int[] BitReference(sbyte[] codes, int rows, int cols, int bits)
    {
        var words = (cols * bits + 31) / 32;
        var result = new int[rows * words];
        for (var r = 0; r < rows; r++)
        for (var i = 0; i < cols; i++)
        {
            var u = codes[r * cols + i] + (1 << (bits - 1));
            for (var j = 0; j < bits; j++)
            {
                if (((u >> j) & 1) == 0) continue;
                var bit = i * bits + j;
                result[r * words + bit / 32] |= 1 << (bit % 32);
            }
        }
        return result;
    }

    /// <summary>The legacy packer (32/b elements per word, no straddling) for b dividing 32.</summary>
    private static int[] LegacyReference(sbyte[] codes, int rows, int cols, int bits)
    {
        var perWord = 32 / bits;
        var words = (cols + perWord - 1) / perWord;
        var result = new int[rows * words];
        for (var r = 0; r < rows; r++)
        for (var i = 0; i < cols; i++)
        {
            var u = (uint)(codes[r * cols + i] + (1 << (bits - 1)));
            result[r * words + i / perWord] |= unchecked((int)(u << (bits * (i % perWord))));
        }
        return result;
    }

    private static sbyte[] RandomCodes(int rows, int cols, int bits, int seed)
    {
        var rng = new Random(seed);
        var codes = new sbyte[rows * cols];
        for (var i = 0; i < codes.Length; i++) codes[i] = (sbyte)rng.Next(-(1 << (bits - 1)), 1 << (bits - 1));
        return codes;
    }

    public static TheoryData<int, int, int> Shapes()
    {
        var d = new TheoryData<int, int, int>();
        for (var b = 1; b <= 8; b++)
        {
            d.Add(b, 256, 1024);
            d.Add(b, 512, 100);
            d.Add(b, 128, 33);
            d.Add(b, 7, 1);
            d.Add(b, 3, 13);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Round_trip_and_bit_layout_for_every_width(int bits, int rows, int cols)
    {
        var codes = RandomCodes(rows, cols, bits, bits * 1000 + cols);
        var packed = new int[rows * Int32Packer.PackedLength(cols, bits)];
        Int32Packer.Pack(codes, rows, cols, bits, packed);
        Assert.Equal(BitReference(codes, rows, cols, bits), packed);
        if (32 % bits == 0) Assert.Equal(LegacyReference(codes, rows, cols, bits), packed);
        var back = new sbyte[codes.Length];
        Int32Packer.Unpack(packed, rows, cols, bits, back);
        Assert.Equal(codes, back);
    }

    [Theory]
    [InlineData(4, 9, 3)]
    [InlineData(4, 16, 1)]
    [InlineData(8, 5, 7)]
    [InlineData(3, 11, 2)]
    public void Zero_points_pack_along_dim0(int bits, int rows, int cols)
    {
        var codes = RandomCodes(rows, cols, bits, rows * 7 + cols);
        var words = Int32Packer.PackedLength(rows, bits);
        var packed = new int[words * cols];
        Int32Packer.PackDim0(codes, rows, cols, bits, packed);
        // Column c of the result is the packing of column c of the codes.
        for (var c = 0; c < cols; c++)
        {
            var column = new sbyte[rows];
            for (var r = 0; r < rows; r++) column[r] = codes[r * cols + c];
            var expected = BitReference(column, 1, rows, bits);
            for (var w = 0; w < words; w++) Assert.Equal(expected[w], packed[w * cols + c]);
        }
        var back = new sbyte[codes.Length];
        Int32Packer.UnpackDim0(packed, rows, cols, bits, back);
        Assert.Equal(codes, back);
    }

    [Fact]
    public void Codes_outside_the_range_are_refused()
    {
        var packed = new int[1];
        Assert.Throws<ArgumentOutOfRangeException>(() => Int32Packer.Pack([8], 1, 1, 4, packed));
        Assert.Throws<ArgumentOutOfRangeException>(() => Int32Packer.Pack([-9], 1, 1, 4, packed));
    }
}
