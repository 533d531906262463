using Offload.Model.Forward;
using Offload.Compression.Quantization;
using Offload.Protocol;
using Xunit;

namespace Offload.Compression.Tests;

/// <summary>The static activation observers of formats spec §1.6 / §7.3, on the spec's verified two-batch example.</summary>
public class InputRangeObserverTests
{
    private static float ScaleAfterTwoBatches(string observer)
    {
        var args = QuantizationArgs.Create(8, QuantizationType.Float, strategy: QuantizationStrategy.Tensor, observer: observer);
        var o = new InputRangeObserver(0, new Dictionary<LinearInput, QuantizationArgs> { [LinearInput.Attention] = args });
        float[] first = [1f, -8.96f, 2f, 0.5f];
        float[] second = [0.8f, -0.25f, 0.1f, 0f];
        o.OnInput(0, LinearInput.Attention, first, 2, 2, 1);
        o.OnInput(0, LinearInput.Attention, second, 2, 2, 1);
        o.OnInput(1, LinearInput.Attention, [100f, 100f], 1, 2, 1);          // another layer: not observed
        o.OnInput(0, LinearInput.Mlp, [100f, 100f], 1, 2, 1);                // another site: not observed
        return o.Scales(DType.BF16)[LinearInput.Attention].Scale!.Value;
    }

    [Fact]
    public void Memoryless_minmax_keeps_only_the_last_batch() => Assert.Equal(0.0017852783203125f, ScaleAfterTwoBatches("memoryless_minmax"));

    [Fact]
    public void Static_minmax_keeps_the_running_range() => Assert.Equal(0.0198974609375f, ScaleAfterTwoBatches("static_minmax"));

    [Fact]
    public void Minmax_is_a_moving_average_with_constant_0_01() => Assert.Equal(0.019775390625f, ScaleAfterTwoBatches("minmax"));

    [Fact]
    public void Nvfp4_local_inputs_give_the_global_scale_of_the_running_absmax()
    {
        var args = QuantizationPresets.Get("NVFP4", ["Linear"]).InputActivations!;
        var o = new InputRangeObserver(3, new Dictionary<LinearInput, QuantizationArgs> { [LinearInput.MlpDown] = args });
        o.OnInput(3, LinearInput.MlpDown, [0.5f, -6f], 1, 2, 1);
        o.OnInput(3, LinearInput.MlpDown, [0.25f, 1f], 1, 2, 1);
        var s = o.Scales(DType.BF16)[LinearInput.MlpDown];
        Assert.Null(s.Scale);
        Assert.Equal(448f, s.GlobalScale);
    }

    [Fact]
    public void Static_group_activations_are_refused()
    {
        var args = QuantizationArgs.Create(8, QuantizationType.Float, groupSize: 16, strategy: QuantizationStrategy.Group);
        var e = Assert.Throws<QuantizationConfigException>(() => new InputRangeObserver(0, new Dictionary<LinearInput, QuantizationArgs> { [LinearInput.Mlp] = args }));
        Assert.Contains("strategy 'group'", e.Message);
    }
}
