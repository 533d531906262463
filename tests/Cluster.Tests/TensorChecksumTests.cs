using System.Text;
using Offload.DeviceActors.DataPlane;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Cluster.Tests;

public sealed class TensorChecksumTests
{
    [Fact]
    public void Crc32c_matches_the_standard_check_value_and_a_bitwise_reference_at_every_length_to_100()
    {
        Assert.Equal(0xE3069283u, TensorChecksum.Crc32C(Encoding.ASCII.GetBytes("123456789")));
        var data = new byte[100];
        new Random(3).NextBytes(data);
        for (var n = 0; n <= data.Length; n++) Assert.Equal(Reference.Crc32C(data.AsSpan(0, n)), TensorChecksum.Crc32C(data.AsSpan(0, n)));
        // Continuing a CRC over two parts equals one pass.
        var state = TensorChecksum.Update(~0u, data.AsSpan(0, 37));
        Assert.Equal(TensorChecksum.Crc32C(data), ~TensorChecksum.Update(state, data.AsSpan(37)));
    }

    [Fact]
    public void A_tensor_s_checksum_has_one_crc_per_4_MiB_block_and_round_trips()
    {
        const int blocks = 3;
        using var t = Tensor.Zeros(DType.U8, 2L * TensorChecksum.BlockBytes + 5);
        var bytes = t.Span<byte>();
        new Random(4).NextBytes(bytes);
        var checksum = TensorStore.Checksum(t);
        var (block, crcs) = TensorChecksum.Parse(checksum, t.ByteLength);
        Assert.Equal(TensorChecksum.BlockBytes, block);
        Assert.Equal(blocks, crcs.Length);
        Assert.Equal(Reference.Crc32C(bytes[..TensorChecksum.BlockBytes]), crcs[0]);
        Assert.Equal(Reference.Crc32C(bytes[TensorChecksum.BlockBytes..(2 * TensorChecksum.BlockBytes)]), crcs[1]);
        Assert.Equal(Reference.Crc32C(bytes[(2 * TensorChecksum.BlockBytes)..]), crcs[2]);
        Assert.Equal(checksum, TensorChecksum.Format(crcs));
        Assert.Throws<InvalidDataException>(() => TensorChecksum.Parse(checksum, t.ByteLength + TensorChecksum.BlockBytes));
        Assert.Throws<InvalidDataException>(() => TensorChecksum.Parse("sha256:00", 1));
    }
}
