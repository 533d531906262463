using Akka.Actor;
using Akka.TestKit.Xunit2;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;
using Xunit;

namespace Offload.DeviceActors.Tests;

public sealed class LayerShardTests : TestKit
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"offload-shard-{Guid.NewGuid():N}");

    private static readonly SynthOptions Tiny = new()
    {
        Layers = 2, Hidden = 32, Intermediate = 64, Heads = 4, KvHeads = 2, Vocab = 64, DType = DType.BF16, Seed = 11,
    };

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Decoder_shard_on_a_device_equals_the_resident_layer_bitwise_and_offloads()
    {
        var config = SyntheticCheckpoint.Write(_dir, Tiny);
        using var checkpoint = SafetensorsCheckpoint.Open(_dir);
        using var parameters = new ShardParameters("layer-1", ModuleTree.LayerParameters(config, 1).Select(p => (p.Name, checkpoint.Get(p.Name))).ToList());
        Assert.All(parameters.Names, n => Assert.Equal(ParameterTier.Mapped, parameters.TierOf(n)));
        var device = DeviceClient.Start(Sys, new DeviceOptions(new DeviceId(DeviceKind.Cpu, 2), 1 << 20));
        var rope = new RotaryEmbedding(config);
        var shard = Sys.ActorOf(LayerShard.Props(ShardSpec.Decoder(config, 1), parameters, device, rope), "layer-1");

        using var input = RandomHidden(2, 5, config.HiddenSize, seed: 3);
        var done = await shard.Ask<LayerShard.ForwardDone>(new LayerShard.Forward(0, input), Safety);
        using var output = done.Output;
        var onDevice = (await device.StatsAsync().WaitAsync(Safety)).PinnedBytes;

        using var reference = new DecoderLayer(config, 1, DecoderLayerWeights.From(config, 1, n => checkpoint.Get(n)), rope);
        using var expected = reference.Forward(input);
        Assert.Equal(expected.ToFloatArray(), output.ToFloatArray()); // exact float equality, element by element

        Assert.Equal(parameters.Bytes, onDevice);
        await shard.Ask<LayerShard.Offloaded>(new LayerShard.Offload(), Safety);
        var after = await device.StatsAsync().WaitAsync(Safety);
        Assert.Equal(0, after.PinnedBytes);           // offloaded: unpinned …
        Assert.Equal(parameters.Bytes, after.ResidentBytes); // … but still cached until evicted
    }

    [Fact]
    public void Parameters_move_mapped_to_host_only_by_staging_or_replacement()
    {
        var config = SyntheticCheckpoint.Write(_dir, Tiny);
        using var checkpoint = SafetensorsCheckpoint.Open(_dir);
        using var parameters = new ShardParameters("layer-0", ModuleTree.LayerParameters(config, 0).Select(p => (p.Name, checkpoint.Get(p.Name))).ToList());
        var q = ModuleNames.Weight(ModuleNames.QProj(0));
        var k = ModuleNames.Weight(ModuleNames.KProj(0));
        using (var view = parameters.Get(q)) Assert.Equal(StorageKind.Mapped, view.Storage.Kind);

        parameters.StageToHost(q);
        Assert.Equal(ParameterTier.Host, parameters.TierOf(q));
        using (var staged = parameters.Get(q))
        using (var original = checkpoint.Get(q))
        {
            Assert.Equal(StorageKind.Native, staged.Storage.Kind);
            Assert.True(staged.Bytes().SequenceEqual(original.Bytes()));
        }

        var version = parameters.Version;
        using (var shape = checkpoint.Get(k)) parameters.Replace(k, Tensor.Zeros(shape.DType, shape.Shape.ToArray()));
        Assert.Equal(ParameterTier.Host, parameters.TierOf(k));
        Assert.Equal(version + 1, parameters.Version);
        Assert.Throws<ArgumentException>(() => parameters.Replace(k, Tensor.Zeros(DType.BF16, 3, 3)));
    }

    [Fact]
    public async Task A_layer_larger_than_the_device_fails_with_needed_and_available_bytes()
    {
        var config = SyntheticCheckpoint.Write(_dir, Tiny);
        using var checkpoint = SafetensorsCheckpoint.Open(_dir);
        using var parameters = new ShardParameters("layer-0", ModuleTree.LayerParameters(config, 0).Select(p => (p.Name, checkpoint.Get(p.Name))).ToList());
        var device = DeviceClient.Start(Sys, new DeviceOptions(new DeviceId(DeviceKind.Cpu, 3), 1000));
        var shard = Sys.ActorOf(LayerShard.Props(ShardSpec.Decoder(config, 0), parameters, device, new RotaryEmbedding(config)), "layer-0");
        using var input = RandomHidden(1, 3, config.HiddenSize, seed: 1);
        var ex = await Assert.ThrowsAsync<DeviceMemoryException>(() => shard.Ask<LayerShard.ForwardDone>(new LayerShard.Forward(0, input), Safety));
        Assert.Equal(parameters.Bytes, ex.NeededBytes);
        Assert.Equal(1000, ex.AvailableBytes);
    }

    private static Tensor RandomHidden(int rows, int seq, int hidden, int seed)
    {
        var rng = new Random(seed);
        var data = new float[rows * seq * hidden];
        for (var i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        return Tensor.FromArray(data, rows, seq, hidden);
    }
}
