using System.Text.Json;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Model.Tests.SafeTensors;

public sealed class SafetensorsWriterTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static TensorDescriptor U8(string name, long bytes) => new(name, DType.U8, [bytes]);

    [Fact]
    public void PlanShards_FollowsTheGreedyRule()
    {
        // max 100: a+b = 70 fits; c would make 120 → new shard; d (200) is oversize → alone; e after an oversize
        // shard → new shard; f is zero-size and never opens a shard.
        var tensors = new[] { U8("a", 40), U8("b", 30), U8("c", 50), U8("d", 200), U8("e", 10), U8("f", 0) };
        var plan = SafetensorsCheckpointWriter.PlanShards(tensors, 100);
        var names = plan.Select(s => string.Join(",", s.Select(t => t.Name))).ToArray();
        Assert.Equal(["a,b", "c", "d", "e,f"], names);
        Assert.Equal("model-00002-of-00004.safetensors", SafetensorsCheckpointWriter.ShardFileName(1, 4));
        Assert.Equal("model.safetensors", SafetensorsCheckpointWriter.ShardFileName(0, 1));
    }

    [Fact]
    public void ShardedCheckpoint_HasHfNames_AndAnIndexWithTotalSizeAndSortedWeightMap()
    {
        using var dir = new TempDir();
        var rng = new Random(10);
        // written in non-alphabetical order; sizes 40, 30, 50, 200, 10, 0 bytes as in the plan test
        var specs = new (string Name, long Bytes)[] { ("z.a", 40), ("y.b", 30), ("x.c", 50), ("w.d", 200), ("v.e", 10), ("u.f", 0) };
        var tensors = specs.Select(s => (s.Name, Tensor: SafetensorsTestFiles.RandomTensor(DType.U8, [s.Bytes], rng))).ToList();
        try
        {
            IReadOnlyList<string> written;
            using (var w = SafetensorsCheckpointWriter.Create(dir.Path, specs.Select(s => U8(s.Name, s.Bytes)).ToList(), maxShardBytes: 100,
                       metadata: new Dictionary<string, string> { ["producer"] = "offload-tests" }))
            {
                foreach (var (name, t) in tensors) w.Write(name, t);
                written = w.Commit();
            }
            string[] shards = ["model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"];
            Assert.Equal([.. shards, "model.safetensors.index.json"], dir.Names());
            Assert.Equal([.. shards.Select(dir.File), dir.File("model.safetensors.index.json")], written);

            using var doc = JsonDocument.Parse(File.ReadAllBytes(dir.File("model.safetensors.index.json")));
            Assert.Equal(330, doc.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
            var map = doc.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => (p.Name, p.Value.GetString())).ToArray();
            Assert.Equal(new (string, string?)[]
            {
                ("u.f", shards[3]), ("v.e", shards[3]), ("w.d", shards[2]), ("x.c", shards[1]), ("y.b", shards[0]), ("z.a", shards[0]),
            }, map);

            using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
            foreach (var f in ckpt.Files)
            {
                Assert.Equal("pt", f.Metadata["format"]); // transformers refuses safetensors metadata without it
                Assert.Equal("offload-tests", f.Metadata["producer"]);
            }
        }
        finally
        {
            foreach (var (_, t) in tensors) t.Dispose();
        }
    }

    [Fact]
    public void SingleShard_IsModelSafetensors_AndReplacesAnEarlierShardedCheckpoint()
    {
        using var dir = new TempDir();
        var rng = new Random(11);
        using var a = SafetensorsTestFiles.RandomTensor(DType.F32, [30], rng);
        using var b = SafetensorsTestFiles.RandomTensor(DType.F32, [30], rng);
        File.WriteAllText(dir.File("config.json"), "{}");
        using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path, maxShardBytes: 150))
        {
            w.Write("a", a);
            w.Write("b", b);
            w.Commit();
        }
        Assert.Equal(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"], dir.Names());

        using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path))
        {
            w.Write("b", b);
            w.Commit();
        }
        // stale shards and the stale index are gone; other files stay
        Assert.Equal(["config.json", "model.safetensors"], dir.Names());
        using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
        Assert.Equal(["b"], ckpt.Names.ToArray());
    }

    [Fact]
    public void Dispose_WithoutCommit_LeavesTheFolderAsItWas()
    {
        using var dir = new TempDir();
        var rng = new Random(12);
        using var a = SafetensorsTestFiles.RandomTensor(DType.I32, [64], rng);
        SafetensorsWriter.WriteFile(dir.File("model.safetensors"), [("old", a)]);
        var before = File.ReadAllBytes(dir.File("model.safetensors"));

        // declared mode, failing midway through the second shard
        using (var w = SafetensorsCheckpointWriter.Create(dir.Path, [new("a", DType.I32, [64]), new("b", DType.I32, [64])], maxShardBytes: 256))
        {
            w.Write("a", a);
            w.BeginTensor(new TensorDescriptor("b", DType.I32, [64]));
            w.WriteBytes(new byte[10]);
            Assert.Contains(dir.Names(), n => n.StartsWith('.')); // work in progress lives under hidden temporary names
        }
        // incremental mode, abandoned after a few shards
        using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path, maxShardBytes: 256))
        {
            w.Write("a", a);
            w.Write("b", a);
            w.Write("c", a);
        }
        // single-file stream writer
        using (var w = SafetensorsStreamWriter.Create(dir.File("model.safetensors"), [new("a", DType.I32, [64])]))
            w.BeginTensor("a");

        Assert.Equal(["model.safetensors"], dir.Names());
        Assert.Equal(before, File.ReadAllBytes(dir.File("model.safetensors")));
    }

    [Fact]
    public void Misuse_IsReportedAndNothingIsPublished()
    {
        using var dir = new TempDir();
        var rng = new Random(13);
        using var a = SafetensorsTestFiles.RandomTensor(DType.F32, [4], rng);
        using var b = SafetensorsTestFiles.RandomTensor(DType.F32, [5], rng);
        TensorDescriptor[] declared = [new("a", DType.F32, [4]), new("b", DType.F32, [5])];

        using (var w = SafetensorsCheckpointWriter.Create(dir.Path, declared))
        {
            Assert.Throws<InvalidOperationException>(() => w.Write("b", b));  // out of order
            Assert.Throws<ArgumentException>(() => w.Write("a", b));          // shape differs from the declaration
            w.Write("a", a);
            Assert.Throws<InvalidOperationException>(() => w.Commit());        // "b" missing
            w.BeginTensor(new TensorDescriptor("b", DType.F32, [5]));
            Assert.Throws<ArgumentException>(() => w.WriteBytes(new byte[21])); // 20 bytes left
        }
        using (var w = SafetensorsStreamWriter.Create(dir.File("one.safetensors"), declared))
        {
            Assert.Throws<ArgumentException>(() => w.Write("a", b));          // shape differs; the writer stays usable
            Assert.Throws<InvalidOperationException>(() => w.Write("b", b));  // out of order
            w.Write("a", a);
            Assert.Throws<InvalidOperationException>(() => w.Commit());        // "b" missing
        }
        Assert.Throws<ArgumentException>(() => SafetensorsCheckpointWriter.Create(dir.Path, [new("a", DType.F32, [4]), new("a", DType.F32, [4])]));
        Assert.Throws<ArgumentException>(() => SafetensorsCheckpointWriter.Create(dir.Path, [new("n", DType.F32, [-4])]));
        Assert.Throws<ArgumentException>(() => SafetensorsCheckpointWriter.Create(dir.Path, [new("__metadata__", DType.F32, [4])]));
        using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path))
        {
            w.Write("a", a);
            Assert.Throws<ArgumentException>(() => w.Write("a", a));          // duplicate name
            Assert.Throws<InvalidOperationException>(() => w.WriteBytes(new byte[1])); // no tensor begun
        }
        Assert.Empty(dir.Names());
    }

    [Fact]
    public void UnwritableDestination_IsAOneLineSafetensorsException()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("blocker"), "a file where a folder should be");
        var target = Path.Combine(dir.File("blocker"), "sub", "model.safetensors");
        var ex = Record.Exception(() => SafetensorsStreamWriter.Create(target, [new("a", DType.F32, [1])]).Dispose());
        Assert.IsType<SafetensorsException>(ex);
        Assert.Contains("model.safetensors", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        var ex2 = Record.Exception(() => SafetensorsCheckpointWriter.CreateIncremental(Path.Combine(dir.File("blocker"), "ckpt")).Dispose());
        Assert.IsType<SafetensorsException>(ex2);
        Assert.Contains("ckpt", ex2.Message);
    }

    /// <summary>
    /// Managed allocations while streaming 96 MiB must stay far below the data size and below one 16 MiB tensor:
    /// the writers hold 64 KiB file buffers and (incremental mode) a 1 MiB copy buffer, never a tensor or a shard.
    /// </summary>
    private const long AllocationBoundBytes = 4L << 20;

    [Fact]
    public void Streaming_KeepsManagedMemoryBounded()
    {
        using var dir = new TempDir();
        const long tensorBytes = 16L << 20;
        var tensors = new List<Tensor>();
        try
        {
            for (var i = 0; i < 6; i++) tensors.Add(Tensor.Zeros(DType.F32, tensorBytes / 4));
            var declared = tensors.Select((t, i) => new TensorDescriptor($"t{i}", DType.F32, t.Shape.ToArray())).ToList();

            var before = GC.GetAllocatedBytesForCurrentThread();
            using (var w = SafetensorsCheckpointWriter.Create(dir.File("declared"), declared, maxShardBytes: 40L << 20))
            {
                for (var i = 0; i < tensors.Count; i++) w.Write($"t{i}", tensors[i]);
                w.Commit();
            }
            var declaredAlloc = GC.GetAllocatedBytesForCurrentThread() - before;

            before = GC.GetAllocatedBytesForCurrentThread();
            using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.File("incremental"), maxShardBytes: 40L << 20))
            {
                for (var i = 0; i < tensors.Count; i++) w.Write($"t{i}", tensors[i]);
                w.Commit();
            }
            var incrementalAlloc = GC.GetAllocatedBytesForCurrentThread() - before;

            output.WriteLine($"managed bytes allocated for 96 MiB: declared {declaredAlloc}, incremental {incrementalAlloc}");
            Assert.True(declaredAlloc < AllocationBoundBytes, $"declared mode allocated {declaredAlloc} bytes for 96 MiB of data");
            Assert.True(incrementalAlloc < AllocationBoundBytes, $"incremental mode allocated {incrementalAlloc} bytes for 96 MiB of data");
            using var ckpt = SafetensorsCheckpoint.Open(dir.File("incremental"));
            Assert.Equal(3, ckpt.Files.Count); // 2 × 16 MiB per 40 MiB shard
            Assert.Equal(6 * tensorBytes, ckpt.TotalSize);
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
        }
    }

    [Fact]
    public void BuildHeader_RejectsNegativeDimensions_AndPadsToEightBytes()
    {
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.BuildHeader([new("a", DType.F32, [-1])], null));
        for (var n = 1; n < 12; n++)
        {
            var header = SafetensorsWriter.BuildHeader([new(new string('x', n), DType.F32, [1])], null);
            Assert.Equal(0, header.Length % 8);
            Assert.Equal((byte)'}', header.AsSpan().TrimEnd((byte)' ')[^1]);
        }
    }
}
