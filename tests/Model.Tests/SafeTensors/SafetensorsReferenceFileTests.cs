using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Model.Tests.SafeTensors;

/// <summary>compressed-tensors' hadamards.safetensors, written by the reference Python library (shared/data/reference).</summary>
public sealed class SafetensorsReferenceFileTests
{
    private static readonly string s_path = SharedData.File("reference/hadamards.safetensors");

    /// <summary>"1", "2", "4", "8", then every multiple of 4 from 12 to 256 (shared/data/README.md).</summary>
    private static int[] ExpectedSizes() => [1, 2, 4, 8, .. Enumerable.Range(3, 62).Select(i => 4 * i)];

    [Fact]
    public void Loads66Int8Matrices_WithTheirSloaneNames()
    {
        using var f = SafetensorsFile.Open(s_path);
        var sizes = ExpectedSizes();
        Assert.Equal(66, sizes.Length);
        Assert.Equal(66, f.Tensors.Count);
        Assert.Equal(8 + 5848, f.DataStart); // header length 5848 bytes (spec/transforms-quantization.md §4.2)
        foreach (var k in sizes)
        {
            var d = f.Descriptor(k.ToString());
            Assert.Equal(DType.I8, d.DType);
            Assert.Equal([(long)k, k], d.Shape);
        }
        Assert.Equal("had.12", f.Metadata["12"]);
        Assert.Equal("had.172.will", f.Metadata["172"]);
        Assert.Equal("had.256.syl", f.Metadata["256"]);
    }

    [Fact]
    public void EveryMatrix_IsPlusMinusOne_WithKKTransposeEqualToKTimesIdentity()
    {
        using var f = SafetensorsFile.Open(s_path);
        foreach (var k in ExpectedSizes())
        {
            using var t = f.Get(k.ToString());
            var m = t.ReadOnlySpan<sbyte>();
            for (var i = 0; i < m.Length; i++) Assert.True(m[i] is 1 or -1, $"H{k} has entry {m[i]}");
            for (var i = 0; i < k; i++)
            {
                var row = m.Slice(i * k, k);
                for (var j = 0; j < k; j++)
                {
                    var other = m.Slice(j * k, k);
                    var dot = 0;
                    for (var c = 0; c < k; c++) dot += row[c] * other[c];
                    if (dot != (i == j ? k : 0)) Assert.Fail($"H{k}: (K·Kᵀ)[{i},{j}] = {dot}, expected {(i == j ? k : 0)}");
                }
            }
        }
    }

    [Fact]
    public void RewritingIt_ShardedAndSingle_IsBitExact()
    {
        using var source = SafetensorsFile.Open(s_path);
        using var dir = new TempDir();
        using (var w = SafetensorsCheckpointWriter.Create(dir.File("sharded"), source.Tensors, maxShardBytes: 200_000, metadata: source.Metadata))
        {
            foreach (var d in source.Tensors)
            {
                using var t = source.Get(d.Name);
                w.Write(d.Name, t);
            }
            w.Commit();
        }
        var single = dir.File("single.safetensors");
        var views = source.Tensors.Select(d => (d.Name, Tensor: source.Get(d.Name))).ToList();
        try
        {
            SafetensorsWriter.WriteFile(single, views, source.Metadata);
        }
        finally
        {
            foreach (var (_, t) in views) t.Dispose();
        }

        using var sharded = SafetensorsCheckpoint.Open(dir.File("sharded"));
        using var one = SafetensorsFile.Open(single);
        Assert.True(sharded.Files.Count > 3);
        Assert.Equal(source.Metadata.Count, one.Metadata.Count);
        foreach (var d in source.Tensors)
        {
            using var a = source.Get(d.Name);
            using var b = sharded.Get(d.Name);
            using var c = one.Get(d.Name);
            Assert.True(a.Bytes().SequenceEqual(b.Bytes()), $"{d.Name} differs in the sharded copy");
            Assert.True(a.Bytes().SequenceEqual(c.Bytes()), $"{d.Name} differs in the single-file copy");
        }
    }
}
