using System.Text.Json;
using Offload.Compression.Quantization;
using Offload.Protocol;
using Xunit;

namespace Offload.Compression.Tests;

public class QuantArgsTests
{
    [Fact]
    public void Defaults_are_8bit_int_symmetric_tensor_with_memoryless_minmax()
    {
        var a = QuantizationArgs.Create();
        Assert.Equal(8, a.NumBits);
        Assert.Equal(QuantizationType.Int, a.Type);
        Assert.True(a.Symmetric);
        Assert.Equal(QuantizationStrategy.Tensor, a.Strategy);
        Assert.Equal("memoryless_minmax", a.Observer);
        Assert.Equal("torch.int8", a.ZpDType);
        Assert.Equal(-128, a.QMin);
        Assert.Equal(127, a.QMax);
    }

    [Theory]
    [InlineData(null, QuantizationStrategy.Tensor)]
    [InlineData(128, QuantizationStrategy.Group)]
    [InlineData(-1, QuantizationStrategy.Channel)]
    public void Strategy_is_inferred_from_group_size(int? groupSize, QuantizationStrategy expected) =>
        Assert.Equal(expected, QuantizationArgs.Create(4, groupSize: groupSize).Strategy);

    [Fact]
    public void Int4_range_is_minus8_to_7() => Assert.Equal((-8, 7), (QuantizationArgs.Create(4).QMin, QuantizationArgs.Create(4).QMax));

    [Fact]
    public void Invalid_combinations_are_refused()
    {
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(8, strategy: QuantizationStrategy.Token));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(4, strategy: QuantizationStrategy.Group));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(4, groupSize: 128, strategy: QuantizationStrategy.Channel));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(4, strategy: QuantizationStrategy.Block));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(4, blockStructure: [2, 2]));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel, actOrder: ActivationOrdering.Group));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(4, groupSize: -2));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(9));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(8, strategy: QuantizationStrategy.Channel, dynamic: DynamicMode.Dynamic));
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.Create(8, observer: "histogram"));
        // Weight-order actorder is fine on channel (it changes only the GPTQ processing order).
        Assert.Equal(ActivationOrdering.Weight, QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel, actOrder: ActivationOrdering.Weight).ActOrder);
    }

    [Fact]
    public void Dynamic_args_have_no_observer()
    {
        var a = QuantizationArgs.Create(8, strategy: QuantizationStrategy.Token, dynamic: DynamicMode.Dynamic, observer: "minmax");
        Assert.Null(a.Observer);
    }

    [Fact]
    public void Json_dump_has_every_field_and_round_trips()
    {
        var a = QuantizationArgs.Create(4, symmetric: false, groupSize: 128, actOrder: ActivationOrdering.Static, scaleDType: DType.BF16);
        var json = a.ToJson();
        Assert.Equal(12, json.Count);
        Assert.Equal("torch.int8", (string?)json["zp_dtype"]);
        Assert.Equal("static", (string?)json["actorder"]);
        Assert.Equal("torch.bfloat16", (string?)json["scale_dtype"]);
        Assert.False((bool)json["dynamic"]!);
        using var doc = JsonDocument.Parse(json.ToJsonString());
        Assert.Equal(a, QuantizationArgs.FromJson(doc.RootElement, "test"));
        // Symmetric args dump zp_dtype as null.
        Assert.Null(QuantizationArgs.Create(4).ToJson()["zp_dtype"]);
    }

    [Fact]
    public void Parsing_is_strict_and_accepts_the_reference_spellings()
    {
        using var unknown = JsonDocument.Parse("""{"num_bits": 4, "bits": 4}""");
        Assert.Throws<QuantizationConfigException>(() => QuantizationArgs.FromJson(unknown.RootElement, "t"));
        using var aliases = JsonDocument.Parse("""{"num_bits": 4, "type": "INT", "strategy": "GROUP", "group_size": 32, "actorder": true, "block_structure": null}""");
        var a = QuantizationArgs.FromJson(aliases.RootElement, "t");
        Assert.Equal(ActivationOrdering.Group, a.ActOrder);
        Assert.Equal(QuantizationStrategy.Group, a.Strategy);
        using var block = JsonDocument.Parse("""{"strategy": "block", "block_structure": "128x64"}""");
        Assert.Equal([128, 64], QuantizationArgs.FromJson(block.RootElement, "t").BlockStructure!);
        using var off = JsonDocument.Parse("""{"actorder": false}""");
        Assert.Null(QuantizationArgs.FromJson(off.RootElement, "t").ActOrder);
    }

    [Fact]
    public void Actorder_aliases_classify_as_their_targets()
    {
        Assert.True(((ActivationOrdering?)ActivationOrdering.Dynamic).IsGroupOrder());
        Assert.True(((ActivationOrdering?)ActivationOrdering.Static).IsWeightOrder());
        Assert.False(((ActivationOrdering?)null).IsWeightOrder());
    }

    [Fact]
    public void Presets_match_the_spec_table()
    {
        string[] t = ["Linear"];
        var w4a16 = QuantizationPresets.Get("W4A16", t);
        Assert.Equal((4, QuantizationStrategy.Group, 128, true), (w4a16.Weights!.NumBits, w4a16.Weights.Strategy, w4a16.Weights.GroupSize!.Value, w4a16.Weights.Symmetric));
        Assert.Null(w4a16.InputActivations);
        Assert.False(QuantizationPresets.Get("w4a16_asym", t).Weights!.Symmetric);
        Assert.Equal(QuantizationStrategy.Group, QuantizationPresets.Get("W8A16", t).Weights!.Strategy);
        var w8a8 = QuantizationPresets.Get("W8A8", t);
        Assert.Equal((8, QuantizationStrategy.Channel), (w8a8.Weights!.NumBits, w8a8.Weights.Strategy));
        Assert.Equal((8, QuantizationStrategy.Token, DynamicMode.Dynamic, true), (w8a8.InputActivations!.NumBits, w8a8.InputActivations.Strategy, w8a8.InputActivations.Dynamic, w8a8.InputActivations.Symmetric));
        Assert.Equal(w8a8, QuantizationPresets.Get("INT8", t));
        var w4a8 = QuantizationPresets.Get("W4A8", t);
        Assert.Equal((4, 8), (w4a8.Weights!.NumBits, w4a8.InputActivations!.NumBits));
        var w4a4 = QuantizationPresets.Get("W4A4", t);
        Assert.Equal((4, 4, QuantizationStrategy.Token), (w4a4.Weights!.NumBits, w4a4.InputActivations!.NumBits, w4a4.InputActivations.Strategy));
        Assert.Null(QuantizationPresets.Get("UNQUANTIZED", t).Weights);
        Assert.Throws<QuantizationConfigException>(() => QuantizationPresets.Get("W5A4", t));
        Assert.Throws<QuantizationConfigException>(() => QuantizationPresets.Get("FP16", t));
        Assert.Throws<QuantizationConfigException>(() => QuantizationPresets.Get("NVFP8", t));
    }

    [Fact]
    public void Scheme_refuses_activation_actorder_and_weight_strategies_on_activations()
    {
        var channelAct = QuantizationArgs.Create(8, strategy: QuantizationStrategy.Channel);
        Assert.Throws<QuantizationConfigException>(() => new QuantizationScheme(["Linear"], null, channelAct));
        var s = QuantizationPresets.Get("W4A4", ["Linear"]);
        using var doc = JsonDocument.Parse(s.ToJson().ToJsonString());
        Assert.Equal(s, QuantizationScheme.FromJson(doc.RootElement, "t"));
        using var single = JsonDocument.Parse("""{"targets": "Linear", "weights": {"num_bits": 4}}""");
        Assert.Equal(["Linear"], QuantizationScheme.FromJson(single.RootElement, "t").Targets);
    }
}
