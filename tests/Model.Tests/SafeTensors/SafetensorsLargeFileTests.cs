using Offload.Model.SafeTensors;
using Offload.Protocol;
using Xunit;

namespace Offload.Model.Tests.SafeTensors;

/// <summary>64-bit offsets: a sparse file whose data section passes 4 GiB (no disk is spent on the hole).</summary>
public sealed class SafetensorsLargeFileTests
{
    private const long BigBytes = (4L << 30) + 4096; // a U8 tensor just over 4 GiB
    private static readonly float[] TailValues = [1.5f, -2.25f, 3.0e38f, MathF.PI];

    /// <summary>
    /// Resident-memory growth allowed while opening the file and reading its tail: a reader that touched the whole
    /// 4 GiB data section would add 4 GiB; 1 GiB leaves room for what tests running in parallel allocate.
    /// </summary>
    private const long RssGrowthBoundBytes = 1L << 30;

    /// <summary>VmRSS from /proc/self/status in bytes (Linux), or null elsewhere.</summary>
    private static long? ResidentBytes()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return null;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line["VmRSS:".Length..].Replace("kB", "").Trim()) * 1024;
        return null;
    }

    [Fact]
    public unsafe void TensorBeyondFourGiB_IsReadThroughTheMapping()
    {
        using var dir = new TempDir();
        var path = dir.File("big.safetensors");
        var header = SafetensorsWriter.BuildHeader([new("big", DType.U8, [BigBytes]), new("tail", DType.F32, [TailValues.Length])], null);
        var tailBytes = new byte[TailValues.Length * 4];
        Buffer.BlockCopy(TailValues, 0, tailBytes, 0, tailBytes.Length);
        var fileLength = 8 + header.Length + BigBytes + tailBytes.Length;
        using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            fs.Write(BitConverter.GetBytes((ulong)header.Length));
            fs.Write(header);
            fs.SetLength(fileLength); // the hole reads as zeros
            fs.Position = fileLength - tailBytes.Length;
            fs.Write(tailBytes);
            fs.Position = 8 + header.Length + BigBytes - 1;
            fs.WriteByte(0x7F); // last byte of "big", also past 4 GiB
        }
        try
        {
            var rssBefore = ResidentBytes();
            using var f = SafetensorsFile.Open(path);
            Assert.Equal(fileLength, f.Length);
            var (offset, length) = f.ByteRange("tail");
            Assert.True(offset > uint.MaxValue, $"tail starts at {offset}, not past 4 GiB");
            Assert.Equal(16, length);
            using (var tail = f.Get("tail"))
                Assert.Equal(TailValues, tail.ReadOnlySpan<float>().ToArray());
            using var big = f.Get("big");
            Assert.Equal([BigBytes], big.Shape.ToArray());
            Assert.Equal(0x7F, big.Pointer[BigBytes - 1]);
            Assert.Equal(0, big.Pointer[(3L << 30) + 12345]); // inside the hole
            if (rssBefore is { } before)
            {
                var growth = ResidentBytes()!.Value - before;
                Assert.True(growth < RssGrowthBoundBytes, $"resident memory grew by {growth} bytes: the reader touched the data");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
