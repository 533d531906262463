using System.Text;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Model.Tests.SafeTensors;

/// <summary>
/// Seeded random corruption of good files: whatever the damage, opening either succeeds (and every tensor can then
/// be read) or fails with <see cref="SafetensorsException"/>; no other exception type, no crash.
/// </summary>
public sealed class SafetensorsFuzzTests
{
    private const int FileMutations = 1500;
    private const int IndexMutations = 300;

    private static byte[] GoodFile()
    {
        using var dir = new TempDir();
        var rng = new Random(99);
        using var a = SafetensorsTestFiles.RandomTensor(DType.F32, [3, 2], rng);
        using var b = SafetensorsTestFiles.RandomTensor(DType.BF16, [0, 4], rng);
        using var c = SafetensorsTestFiles.RandomTensor(DType.I8, [5], rng);
        using var s = SafetensorsTestFiles.RandomTensor(DType.I64, [], rng);
        var path = dir.File("good.safetensors");
        SafetensorsWriter.WriteFile(path, [("a", a), ("b", b), ("c", c), ("s", s)], new Dictionary<string, string> { ["format"] = "pt" });
        return File.ReadAllBytes(path);
    }

    private static byte[] Mutate(byte[] good, Random rng)
    {
        var bytes = (byte[])good.Clone();
        switch (rng.Next(6))
        {
            case 0: // flip a few bytes anywhere in the header (or the length prefix)
                var headerEnd = (int)Math.Min(bytes.Length, 8 + (long)BitConverter.ToUInt64(good, 0));
                for (var k = rng.Next(1, 4); k > 0; k--) bytes[rng.Next(headerEnd)] = (byte)rng.Next(256);
                return bytes;
            case 1: // truncate
                return bytes[..rng.Next(bytes.Length)];
            case 2: // replace a digit in the header by another digit or a sign
                var digits = Enumerable.Range(8, bytes.Length - 8).Where(i => (ulong)i < 8 + BitConverter.ToUInt64(good, 0) && bytes[i] is >= (byte)'0' and <= (byte)'9').ToArray();
                bytes[digits[rng.Next(digits.Length)]] = (byte)"0123456789-.e"[rng.Next(13)];
                return bytes;
            case 3: // change the header length
                BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), BitConverter.ToUInt64(good, 0) + (ulong)rng.Next(-16, 17));
                return bytes;
            case 4: // append garbage
                var extra = new byte[rng.Next(1, 16)];
                rng.NextBytes(extra);
                return [.. bytes, .. extra];
            default: // replace a structural character of the header
                var header = Encoding.UTF8.GetString(bytes, 8, (int)BitConverter.ToUInt64(good, 0));
                var positions = Enumerable.Range(0, header.Length).Where(i => "{}[],:\"".Contains(header[i])).ToArray();
                bytes[8 + positions[rng.Next(positions.Length)]] = (byte)"{}[],:\" x"[rng.Next(9)];
                return bytes;
        }
    }

    [Fact]
    public void CorruptedFiles_OpenOrFailWithSafetensorsException_Only()
    {
        using var dir = new TempDir();
        var good = GoodFile();
        var rng = new Random(2024);
        var path = dir.File("fuzz.safetensors");
        int opened = 0, rejected = 0;
        for (var i = 0; i < FileMutations; i++)
        {
            File.WriteAllBytes(path, Mutate(good, rng));
            try
            {
                using var f = SafetensorsFile.Open(path);
                foreach (var d in f.Tensors)
                {
                    using var t = f.Get(d.Name);
                    long sum = 0;
                    foreach (var x in t.Bytes()) sum += x; // touches every byte of the view
                    Assert.True(sum >= 0);
                }
                opened++;
            }
            catch (SafetensorsException ex)
            {
                Assert.DoesNotContain('\n', ex.Message);
                Assert.Contains("fuzz.safetensors", ex.Message);
                rejected++;
            }
        }
        Assert.True(rejected > FileMutations / 2, $"only {rejected} of {FileMutations} mutations were rejected");
        Assert.True(opened > 0, "no mutation kept the file valid (a header length changed by 0 should)");
    }

    [Fact]
    public void CorruptedIndexes_OpenOrFailWithSafetensorsException_Only()
    {
        using var dir = new TempDir();
        var rng = new Random(7);
        using var a = SafetensorsTestFiles.RandomTensor(DType.F16, [8], rng);
        using var b = SafetensorsTestFiles.RandomTensor(DType.F16, [8], rng);
        using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path, maxShardBytes: 16))
        {
            w.Write("model.layers.0.a", a);
            w.Write("model.layers.0.b", b);
            w.Commit();
        }
        var indexPath = dir.File(SafetensorsCheckpoint.IndexFileName);
        var good = File.ReadAllBytes(indexPath);
        int rejected = 0;
        for (var i = 0; i < IndexMutations; i++)
        {
            var bytes = (byte[])good.Clone();
            if (rng.Next(3) == 0) bytes = bytes[..rng.Next(bytes.Length)];
            else for (var k = rng.Next(1, 3); k > 0; k--) bytes[rng.Next(bytes.Length)] = (byte)"{}[],:\"x01./\\\u00ff"[rng.Next(14)];
            File.WriteAllBytes(indexPath, bytes);
            try
            {
                SafetensorsCheckpoint.Open(dir.Path).Dispose();
            }
            catch (SafetensorsException ex)
            {
                Assert.DoesNotContain('\n', ex.Message);
                rejected++;
            }
        }
        Assert.True(rejected > IndexMutations / 2, $"only {rejected} of {IndexMutations} mutations were rejected");
    }
}
