namespace Offload.Cluster.Tests;

/// <summary>Slow references for the tests.</summary>
internal static class Reference
{
    /// <summary>CRC-32C bit by bit (reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF).</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }
}
