using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;
using Xunit;

namespace Offload.Model.Tests.SafeTensors;

public sealed class SafetensorsRoundTripTests
{
    /// <summary>Every dtype × every shape of <see cref="SafetensorsTestFiles.Shapes"/>, as (name, random tensor).</summary>
    private static List<(string Name, Tensor Tensor)> AllTensors(int seed)
    {
        var rng = new Random(seed);
        var list = new List<(string, Tensor)>();
        foreach (var dtype in SafetensorsTestFiles.AllDTypes)
        {
            for (var s = 0; s < SafetensorsTestFiles.Shapes.Length; s++)
                list.Add(($"layers.{(int)dtype}.{dtype.ToSafetensorsName().ToLowerInvariant()}_{s}", SafetensorsTestFiles.RandomTensor(dtype, SafetensorsTestFiles.Shapes[s], rng)));
        }
        return list;
    }

    private static void AssertSame(IReadOnlyList<(string Name, Tensor Tensor)> expected, SafetensorsCheckpoint ckpt)
    {
        Assert.Equal(expected.Count, ckpt.Tensors.Count);
        foreach (var (name, t) in expected)
        {
            var d = ckpt.Descriptor(name);
            Assert.Equal(t.DType, d.DType);
            Assert.Equal(t.Shape.ToArray(), d.Shape);
            using var back = ckpt.Get(name);
            Assert.Equal(t.DType, back.DType);
            Assert.Equal(t.Shape.ToArray(), back.Shape.ToArray());
            Assert.Equal(SafetensorsTestFiles.BytesOf(t), SafetensorsTestFiles.BytesOf(back));
        }
    }

    private static void DisposeAll(List<(string Name, Tensor Tensor)> tensors)
    {
        foreach (var (_, t) in tensors) t.Dispose();
    }

    [Fact]
    public void EveryDType_SingleFile_RoundTripsBitExact_WithMetadata()
    {
        using var dir = new TempDir();
        var tensors = AllTensors(seed: 1);
        try
        {
            var path = dir.File("model.safetensors");
            var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓ \"quoted\"\n" };
            SafetensorsWriter.WriteFile(path, tensors, metadata);
            Assert.Equal(["model.safetensors"], dir.Names());

            using (var file = SafetensorsFile.Open(path))
            {
                Assert.Equal(metadata, file.Metadata);
                Assert.Equal(0, file.DataStart % 8); // header padded so the data is 8-byte aligned
                Assert.Equal(tensors.Select(t => t.Name), file.Tensors.Select(t => t.Name)); // file order = written order
            }
            using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
            Assert.Null(ckpt.IndexPath);
            AssertSame(tensors, ckpt);
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    [Fact]
    public void EveryDType_ShardedDeclared_RoundTripsBitExact()
    {
        using var dir = new TempDir();
        var tensors = AllTensors(seed: 2);
        try
        {
            var descriptors = tensors.Select(t => new TensorDescriptor(t.Name, t.Tensor.DType, t.Tensor.Shape.ToArray())).ToList();
            using (var w = SafetensorsCheckpointWriter.Create(dir.Path, descriptors, maxShardBytes: 100))
            {
                foreach (var (name, t) in tensors) w.Write(name, t);
                w.Commit();
            }
            var plan = SafetensorsCheckpointWriter.PlanShards(descriptors, 100);
            Assert.True(plan.Count > 5, $"expected many shards, got {plan.Count}");
            using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
            Assert.Equal(plan.Count, ckpt.Files.Count);
            Assert.NotNull(ckpt.IndexPath);
            Assert.Equal(tensors.Sum(t => t.Tensor.ByteLength), ckpt.TotalSize);
            AssertSame(tensors, ckpt);
            Assert.Equal(tensors.Select(t => t.Name), ckpt.Names); // storage order = written order
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    [Fact]
    public void EveryDType_ShardedIncremental_InChunks_RoundTripsBitExact()
    {
        using var dir = new TempDir();
        var tensors = AllTensors(seed: 3);
        try
        {
            using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path, maxShardBytes: 150))
            {
                foreach (var (name, t) in tensors)
                {
                    // odd chunk sizes, so chunks never line up with elements
                    w.BeginTensor(new TensorDescriptor(name, t.DType, t.Shape.ToArray()));
                    var bytes = SafetensorsTestFiles.BytesOf(t);
                    for (var i = 0; i < bytes.Length; i += 7) w.WriteBytes(bytes.AsSpan(i, Math.Min(7, bytes.Length - i)));
                }
                w.Commit();
            }
            using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
            var expectedShards = SafetensorsCheckpointWriter.PlanShards(tensors.Select(t => new TensorDescriptor(t.Name, t.Tensor.DType, t.Tensor.Shape.ToArray())).ToList(), 150);
            Assert.Equal(expectedShards.Count, ckpt.Files.Count);
            AssertSame(tensors, ckpt);
            Assert.DoesNotContain(dir.Names(), n => n.StartsWith('.')); // no temporary or spill file left
        }
        finally
        {
            DisposeAll(tensors);
        }
    }

    [Fact]
    public void StreamWriter_ChunkedData_RoundTripsAndSkipsZeroSizeTensors()
    {
        using var dir = new TempDir();
        var rng = new Random(4);
        using var a = SafetensorsTestFiles.RandomTensor(DType.BF16, [33, 5], rng);
        using var b = SafetensorsTestFiles.RandomTensor(DType.I64, [9], rng);
        var path = dir.File("x.safetensors");
        using (var w = SafetensorsStreamWriter.Create(path, [new("a", DType.BF16, [33, 5]), new("empty", DType.F32, [4, 0]), new("b", DType.I64, [9]), new("tail_empty", DType.U8, [0])]))
        {
            w.BeginTensor("a");
            var bytes = SafetensorsTestFiles.BytesOf(a);
            w.WriteBytes(bytes.AsSpan(0, 101));
            w.WriteBytes(bytes.AsSpan(101));
            w.Write("b", b); // "empty" is skipped: it has no bytes
            w.Commit(); // "tail_empty" needs nothing either
        }
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(["a", "empty", "b", "tail_empty"], f.Tensors.Select(t => t.Name).ToArray());
        using var a2 = f.Get("a");
        using var b2 = f.Get("b");
        using var e2 = f.Get("empty");
        Assert.Equal(SafetensorsTestFiles.BytesOf(a), SafetensorsTestFiles.BytesOf(a2));
        Assert.Equal(SafetensorsTestFiles.BytesOf(b), SafetensorsTestFiles.BytesOf(b2));
        Assert.Equal([4L, 0L], e2.Shape.ToArray());
        Assert.Equal(0, e2.ByteLength);
    }

    [Fact]
    public void EmptyCheckpoint_IsOneFileWithNoTensors()
    {
        using var dir = new TempDir();
        using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path)) w.Commit();
        Assert.Equal(["model.safetensors"], dir.Names());
        using var ckpt = SafetensorsCheckpoint.Open(dir.Path);
        Assert.Empty(ckpt.Tensors);
        Assert.Equal("pt", ckpt.Files[0].Metadata["format"]);
    }

    [Fact]
    public unsafe void Get_IsAZeroCopyViewOfTheMapping_ThatOutlivesTheFile()
    {
        using var dir = new TempDir();
        var rng = new Random(5);
        using var t = SafetensorsTestFiles.RandomTensor(DType.F32, [16, 8], rng);
        var path = dir.File("model.safetensors");
        SafetensorsWriter.WriteFile(path, [("w", t)]);
        Tensor view;
        using (var f = SafetensorsFile.Open(path))
        {
            view = f.Get("w");
            using var again = f.Get("w");
            Assert.Equal(StorageKind.Mapped, view.Storage.Kind);
            var mapping = ((MappedStorage)view.Storage).File;
            var (offset, length) = f.ByteRange("w");
            Assert.Equal(t.ByteLength, length);
            Assert.True(view.Pointer == mapping.Pointer + offset, "the view must point into the mapping, not at a copy");
            Assert.True(again.Pointer == view.Pointer);
            Assert.False(view.Storage.IsWritable);
        }
        using (view)
        {
            // the mapping stays alive until the last view goes
            Assert.Equal(t.ReadOnlySpan<float>().ToArray(), view.ReadOnlySpan<float>().ToArray());
        }
    }

    [Fact]
    public void HeaderPaddedWithSpaces_AndWhitespaceInside_IsAccepted()
    {
        using var dir = new TempDir();
        var path = dir.File("pad.safetensors");
        var json = "{ \"__metadata__\" : { \"k\" : \"v\" } ,\n  \"w\": {\"data_offsets\": [0, 8], \"shape\": [2], \"dtype\": \"F32\"}}" + new string(' ', 37);
        var data = new byte[8];
        BitConverter.TryWriteBytes(data.AsSpan(0, 4), 1.5f);
        BitConverter.TryWriteBytes(data.AsSpan(4, 4), -3f);
        File.WriteAllBytes(path, SafetensorsTestFiles.Raw(System.Text.Encoding.UTF8.GetBytes(json), data));
        using var f = SafetensorsFile.Open(path);
        Assert.Equal("v", f.Metadata["k"]);
        using var w = f.Get("w");
        Assert.Equal([1.5f, -3f], w.ReadOnlySpan<float>().ToArray());
    }

    [Fact]
    public void Checkpoint_OpensAnIndexFileOrASingleFilePathToo()
    {
        using var dir = new TempDir();
        var rng = new Random(6);
        using var a = SafetensorsTestFiles.RandomTensor(DType.F16, [10], rng);
        using var b = SafetensorsTestFiles.RandomTensor(DType.F16, [10], rng);
        using (var w = SafetensorsCheckpointWriter.CreateIncremental(dir.Path, maxShardBytes: 20))
        {
            w.Write("a", a);
            w.Write("b", b);
            w.Commit();
        }
        using (var viaIndex = SafetensorsCheckpoint.Open(dir.File(SafetensorsCheckpoint.IndexFileName)))
        {
            Assert.Equal(2, viaIndex.Files.Count);
            using var b2 = viaIndex.Get("b");
            Assert.Equal(SafetensorsTestFiles.BytesOf(b), SafetensorsTestFiles.BytesOf(b2));
        }
        using var single = SafetensorsCheckpoint.Open(dir.File("model-00001-of-00002.safetensors"));
        Assert.Equal(["a"], single.Names.ToArray());
    }
}
