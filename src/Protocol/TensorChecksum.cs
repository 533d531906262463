using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace Offload.Protocol;

/// <summary>
/// The data plane's checksum of a tensor's data: CRC-32C (Castagnoli) of every block of <see cref="BlockBytes"/>
/// (the last block may be shorter), written as <c>crc32c/{block bytes}:{8 hex digits per block}</c>. The frame header
/// and the <c>TensorRef</c> carry the same string; a receiver checks each block as it arrives.
/// <para>Why CRC-32C and not SHA-256: the check guards against corruption in transit and in memory, not against an
/// adversary, and SHA-256 ran at 1.7 GB/s on the reference machine — slower than the HTTP/2 transfer itself, so it
/// alone would hold a pull under the 1 GB/s goal. CRC-32C runs on the SSE4.2 / ARMv8 CRC instruction
/// (<see cref="BitOperations.Crc32C(uint, ulong)"/>) at several GB/s per core, detects every burst error of up to
/// 32 bits in a block, and misses a random corruption of a block with probability 2⁻³²; per-block values also tell
/// which part of a transfer went wrong.</para>
/// </summary>
public static class TensorChecksum
{
    public const string Algorithm = "crc32c";

    /// <summary>Bytes per checksummed block (4 MiB: 256 values for a 1 GiB tensor).</summary>
    public const int BlockBytes = 4 << 20;

    /// <summary>Standard CRC-32C of <paramref name="data"/> (initial value and final XOR 0xFFFFFFFF; "123456789" → 0xE3069283).</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    /// <summary>Continues a CRC-32C over more data: <paramref name="state"/> starts at ~0u; the CRC is ~state at the end.</summary>
    public static uint Update(uint state, ReadOnlySpan<byte> data)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        var crc = state;
        foreach (var w in words) crc = BitOperations.Crc32C(crc, BitConverter.IsLittleEndian ? w : BinaryPrimitives.ReverseEndianness(w));
        foreach (var b in data[(words.Length * 8)..]) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }

    /// <summary>The checksum string of blocks whose CRCs are <paramref name="blockCrcs"/>.</summary>
    public static string Format(IReadOnlyList<uint> blockCrcs, int blockBytes = BlockBytes)
    {
        var sb = new StringBuilder(Algorithm.Length + 12 + blockCrcs.Count * 8);
        sb.Append(Algorithm).Append('/').Append(blockBytes.ToString(CultureInfo.InvariantCulture)).Append(':');
        foreach (var c in blockCrcs) sb.Append(c.ToString("x8", CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    /// <summary>Parses a checksum string for data of <paramref name="byteLength"/> bytes; throws <see cref="InvalidDataException"/>
    /// when it is not one or has the wrong number of blocks.</summary>
    public static (int BlockBytes, uint[] BlockCrcs) Parse(string checksum, long byteLength)
    {
        var slash = checksum.IndexOf('/');
        var colon = checksum.IndexOf(':');
        if (slash < 0 || colon < slash || checksum[..slash] != Algorithm
            || !int.TryParse(checksum.AsSpan(slash + 1, colon - slash - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var block) || block <= 0)
            throw new InvalidDataException($"tensor checksum '{Shorten(checksum)}' is not {Algorithm}/BLOCK:HEX…");
        var hex = checksum.AsSpan(colon + 1);
        var blocks = byteLength == 0 ? 0 : (int)((byteLength + block - 1) / block);
        if (hex.Length != blocks * 8)
            throw new InvalidDataException($"tensor checksum has {hex.Length / 8} blocks, {byteLength} bytes in blocks of {block} need {blocks}");
        var crcs = new uint[blocks];
        for (var i = 0; i < blocks; i++)
        {
            if (!uint.TryParse(hex.Slice(i * 8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out crcs[i]))
                throw new InvalidDataException($"tensor checksum block {i} is not 8 hex digits");
        }
        return (block, crcs);
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
