using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// Dynamic activation fake-quantization (spec §7.3 "dynamic"): qparams computed on the fly from each token's min and
/// max (token strategy), the whole tensor's (tensor) or each token's groups of group_size (group), then
/// quantize-dequantize in f32, the dtype of the forward pass.
/// </summary>
public static class ActivationQuantizer
{
    /// <summary>x: [tokens, width] f32, fake-quantized in place.</summary>
    public static void FakeQuantizeDynamic(Span<float> x, int tokens, int width, QuantizationArgs args)
    {
        if (!args.IsDynamic) throw new QuantizationConfigException($"activations {args}: static activation quantization needs calibrated scales; use dynamic: true");
        if (args.Dynamic == DynamicMode.Local)
            throw new QuantizationConfigException($"activations {args}: dynamic 'local' (NVFP4 inputs) needs a calibrated input global scale, which this runtime does not compute yet; use NVFP4A16");
        if ((long)tokens * width != x.Length) throw new ArgumentException($"expected {tokens}×{width} values, got {x.Length}");
        switch (args.Strategy)
        {
            case QuantizationStrategy.Token:
                for (var t = 0; t < tokens; t++) FakeQuantizeRange(x.Slice(t * width, width), args);
                break;
            case QuantizationStrategy.Tensor:
                FakeQuantizeRange(x, args);
                break;
            case QuantizationStrategy.Group:
            {
                var g = args.GroupSize!.Value;
                // Float groups (FP8_BLOCK's 128, MX's 32) take a shorter last group, as compressed-tensors' ceil(n/g)
                // view with zero padding does (zeros never change a group's absmax); int groups must divide the width.
                if (width >= g && width % g != 0 && args.Type == QuantizationType.Int)
                    throw new QuantizationConfigException($"activations: width {width} is not a multiple of group_size {g}; pick a group size that divides it");
                for (var t = 0; t < tokens; t++)
                for (var c0 = 0; c0 < width; c0 += g)
                    FakeQuantizeRange(x.Slice(t * width + c0, Math.Min(g, width - c0)), args);
                break;
            }
            default:
                throw new QuantizationConfigException($"activations: dynamic strategy '{args.Strategy.ToName()}' is not supported; use token, tensor or group");
        }
    }

    /// <summary>
    /// x: [tokens, width] f32 fake-quantized in place with calibrated scales: strategy tensor (FP8 / int) with the fixed
    /// <see cref="StaticInputScale.Scale"/>; NVFP4's "local" tensor_group with each token's groups of group_size scaled
    /// e4m3(G·amax/6) / G from the calibrated global scale G (formats spec §4.5; vLLM computes the group scales at run time).
    /// </summary>
    public static void FakeQuantizeStatic(Span<float> x, int tokens, int width, QuantizationArgs args, StaticInputScale scales)
    {
        if ((long)tokens * width != x.Length) throw new ArgumentException($"expected {tokens}×{width} values, got {x.Length}");
        var grid = QuantGrid.Of(args);
        if (args.Dynamic == DynamicMode.Local)
        {
            var g = scales.GlobalScale ?? throw new QuantizationConfigException($"activations {args}: no input global scale");
            var size = args.GroupSize!.Value;
            if (width % size != 0) throw new QuantizationConfigException($"activations: width {width} is not a multiple of group_size {size}");
            for (var t = 0; t < tokens; t++)
            for (var c0 = 0; c0 < width; c0 += size)
            {
                var v = x.Slice(t * width + c0, size);
                var min = float.PositiveInfinity;
                var max = float.NegativeInfinity;
                foreach (var e in v)
                {
                    if (e < min) min = e;
                    if (e > max) max = e;
                }
                var (s, _) = QuantMath.Calculate(min, max, args, DType.F32, DType.F32, g);
                for (var i = 0; i < v.Length; i++) v[i] = QuantMath.FakeQuantize(v[i], s, 0, grid, DType.F32, DType.F32, g);
            }
            return;
        }
        if (args.Strategy != QuantizationStrategy.Tensor)
            throw new QuantizationConfigException($"activations {args}: static input activations are supported with strategy tensor only");
        var scale = scales.Scale ?? throw new QuantizationConfigException($"activations {args}: no input_scale");
        for (var i = 0; i < x.Length; i++) x[i] = QuantMath.FakeQuantize(x[i], scale, 0, grid, DType.F32, DType.F32);
    }

    private static void FakeQuantizeRange(Span<float> v, QuantizationArgs args)
    {
        var min = float.PositiveInfinity;
        var max = float.NegativeInfinity;
        foreach (var e in v)
        {
            if (e < min) min = e;
            if (e > max) max = e;
        }
        var scaleDType = WeightObserver.ScaleDTypeOf(args, DType.F32);
        var (scale, zp) = QuantMath.Calculate(min, max, args, DType.F32, scaleDType);
        var computeDType = QuantMath.Promote(DType.F32, scaleDType);
        var grid = QuantGrid.Of(args);
        for (var i = 0; i < v.Length; i++) v[i] = QuantMath.FakeQuantize(v[i], scale, zp, grid, computeDType, scaleDType);
    }
}
