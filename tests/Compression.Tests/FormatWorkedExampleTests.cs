using Offload.Compression.Checkpoint;
using Offload.Compression.Quantization;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Compression.Tests;

/// <summary>
/// The worked examples of shared/spec/formats-fp8-fp4-kv.md (each verified there against compressed-tensors 0.18 /
/// llm-compressor 0.13): a bf16 weight goes through the observer, RTN fake-quantization and the writer, and the stored
/// bytes and scales must be the spec's, byte for byte.
/// </summary>
public class FormatWorkedExampleTests
{
    private static Tensor Bf16(float[] values, int rows, int cols)
    {
        using var f32 = Tensor.FromArray(values, rows, cols);
        return f32.To(DType.BF16);
    }

    /// <summary>
    /// RTN as llm-compressor's QuantizationModifier does it: the observer's qparams, and the writer quantizing the original
    /// weight → the compressed tensors by short name.
    /// </summary>
    private static Dictionary<string, Tensor> Compress(float[] values, int rows, int cols, QuantizationScheme scheme)
    {
        using var w = Bf16(values, rows, cols);
        var qp = WeightObserver.Observe(w.ToFloatArray(), rows, cols, scheme.Weights!, DType.BF16, "m");
        var format = CompressionFormat.For(scheme, "m");
        return CompressedTensorsWriter.Compress(new QuantizedLinear("m", scheme, w, qp), format)
            .ToDictionary(p => p.Name["m.".Length..], p => p.Tensor);
    }

    private static QuantizationScheme Preset(string name) => QuantizationPresets.Get(name, ["Linear"]);

    private static byte[] Hex(string s) => s.Split(' ').Select(b => Convert.ToByte(b, 16)).ToArray();

    private static readonly float[] Fp8Weight = [0.1f, -0.25f, 3.0f, 0f, -1f, 0.7f, 0.01f, -2.5f];

    [Fact]
    public void Fp8_per_tensor_matches_the_spec_bytes_and_scale()
    {
        var t = Compress(Fp8Weight, 2, 4, Preset("FP8_DYNAMIC").WithWeights(QuantizationArgs.Create(8, QuantizationType.Float, strategy: QuantizationStrategy.Tensor)));
        Assert.Equal(DType.F8E4M3, t["weight"].DType);
        Assert.Equal(Hex("57 e1 7e 00 f1 6d 3c fc"), t["weight"].Bytes().ToArray());
        Assert.Equal(DType.BF16, t["weight_scale"].DType);
        Assert.Equal([1L], t["weight_scale"].Shape.ToArray());
        Assert.Equal(0.006683349609375f, t["weight_scale"].ToFloatArray()[0]);
    }

    [Fact]
    public void Fp8_per_tensor_dequantizes_to_the_spec_values()
    {
        using var w = Bf16(Fp8Weight, 2, 4);
        var (fq, _) = RtnWeights.FakeQuantize(w, QuantizationArgs.Create(8, QuantizationType.Float, strategy: QuantizationStrategy.Tensor), "m");
        using (fq)
            Assert.Equal([0.10009765625f, -0.240234375f, 3.0f, 0f, -0.9609375f, 0.6953125f, 0.010009765625f, -2.5625f], fq.ToFloatArray());
    }

    [Fact]
    public void Fp8_dynamic_channel_matches_the_spec()
    {
        var t = Compress(Fp8Weight, 2, 4, Preset("FP8_DYNAMIC"));
        Assert.Equal(CompressionFormat.FloatQuantized, CompressionFormat.For(Preset("FP8_DYNAMIC"), "m"));
        Assert.Equal(Hex("57 e1 7e 00 f3 70 3e fe"), t["weight"].Bytes().ToArray());
        Assert.Equal([2L, 1L], t["weight_scale"].Shape.ToArray());
        Assert.Equal([0.006683349609375f, 0.005584716796875f], t["weight_scale"].ToFloatArray());
        Assert.False(t.ContainsKey("weight_zero_point"));
    }

    [Fact]
    public void Fp8_block_keeps_the_unpadded_weight_and_a_ceil_scale_grid()
    {
        var values = Enumerable.Range(0, 15).Select(i => (i - 7) * 0.37f).ToArray();
        var scheme = new QuantizationScheme(["Linear"],
            QuantizationArgs.Create(8, QuantizationType.Float, strategy: QuantizationStrategy.Block, blockStructure: [2, 2]),
            QuantizationArgs.Create(8, QuantizationType.Float, groupSize: 128, strategy: QuantizationStrategy.Group, dynamic: DynamicMode.Dynamic));
        var t = Compress(values, 3, 5, scheme);
        Assert.Equal([3L, 5L], t["weight"].Shape.ToArray());
        Assert.Equal(Hex("fe fc fe fb fe f0 e8 00 6b 79 7a 7e 7c 7e 7e"), t["weight"].Bytes().ToArray());
        Assert.Equal([2L, 3L], t["weight_scale"].Shape.ToArray());
        Assert.Equal([0.00579833984375f, 0.004119873046875f, 0.002471923828125f, 0.0032958984375f, 0.00494384765625f, 0.00579833984375f],
            t["weight_scale"].ToFloatArray());
    }

    [Fact]
    public void Nvfp4_matches_the_spec_scales_global_scale_and_packing()
    {
        float[] row0 = [0f, 0.05f, -0.05f, 0.1f, 0.2f, -0.3f, 0.5f, 0.75f, -1f, 1.25f, 1.5f, -2f, 2.5f, 3f, -4f, 6f];
        var values = row0.Concat(Enumerable.Range(0, 16).Select(i => 0.01f * i)).ToArray();
        var scheme = Preset("NVFP4A16");
        Assert.Equal(CompressionFormat.Nvfp4PackQuantized, CompressionFormat.For(scheme, "m"));
        var t = Compress(values, 2, 16, scheme);
        Assert.Equal(DType.F32, t["weight_global_scale"].DType);
        Assert.Equal(448f, t["weight_global_scale"].ToFloatArray()[0]);
        Assert.Equal(DType.F8E4M3, t["weight_scale"].DType);
        Assert.Equal([2L, 1L], t["weight_scale"].Shape.ToArray());
        Assert.Equal(Hex("7e 53"), t["weight_scale"].Bytes().ToArray());
        Assert.Equal(DType.U8, t["weight_packed"].DType);
        Assert.Equal([2L, 8L], t["weight_packed"].Shape.ToArray());
        Assert.Equal(Hex("00 08 90 21 2a c3 54 7e 10 22 43 54 65 66 76 77"), t["weight_packed"].Bytes().ToArray());
        Assert.False(t.ContainsKey("weight"));
    }

    [Fact]
    public void Nvfp4_global_scale_is_computed_in_the_weight_dtype()
    {
        // Spec §4.1: bf16 A = 1.8203125 gives G = 1480 (f32 arithmetic would give 1476.67); A = 0.30078125 gives 8960.
        Assert.Equal(1480f, QuantMath.GlobalScale(1.8203125f, DType.BF16));
        Assert.Equal(8960f, QuantMath.GlobalScale(0.30078125f, DType.BF16));
        Assert.Equal(448f, QuantMath.GlobalScale(6f, DType.BF16));
    }

    [Fact]
    public void Mxfp4_and_mxfp8_match_the_spec_exponents_and_codes()
    {
        var values = Enumerable.Range(0, 32).Select(i => 0.01f * (i - 10))
            .Concat(Enumerable.Range(0, 32).Select(i => 0.3f * (i - 16))).ToArray();
        var fp4 = Compress(values, 2, 32, Preset("MXFP4A16"));
        Assert.Equal(CompressionFormat.Mxfp4PackQuantized, CompressionFormat.For(Preset("MXFP4A16"), "m"));
        Assert.Equal(DType.U8, fp4["weight_scale"].DType);
        Assert.Equal(Hex("7a 7f"), fp4["weight_scale"].Bytes().ToArray());
        Assert.Equal(Hex("dd cd bc ab 99 10 21 33"), fp4["weight_packed"].Bytes()[..8].ToArray());
        Assert.False(fp4.ContainsKey("weight_global_scale"));
        // −4.8125 at scale 1 stores as −4: nibble e, the low nibble of row 1's first byte.
        Assert.Equal(0xe, fp4["weight_packed"].Bytes()[16] & 0xF);

        var fp8 = Compress(values, 2, 32, Preset("MXFP8A16"));
        Assert.Equal(CompressionFormat.Mxfp8Quantized, CompressionFormat.For(Preset("MXFP8A16"), "m"));
        Assert.Equal(Hex("74 79"), fp8["weight_scale"].Bytes().ToArray());
        Assert.Equal(Hex("fa f9 f8 f8"), fp8["weight"].Bytes()[32..36].ToArray());
    }

    [Fact]
    public void W4afp8_is_int_quantized_unpacked_int8()
    {
        var scheme = Preset("W4AFP8");
        Assert.Equal(CompressionFormat.IntQuantized, CompressionFormat.For(scheme, "m"));
        var values = Enumerable.Range(0, 2 * 128).Select(i => MathF.Sin(i * 0.37f)).ToArray();
        var t = Compress(values, 2, 128, scheme);
        Assert.Equal(DType.I8, t["weight"].DType);
        Assert.Equal([2L, 128L], t["weight"].Shape.ToArray());
        Assert.Equal([2L, 1L], t["weight_scale"].Shape.ToArray());
        var codes = t["weight"].ReadOnlySpan<sbyte>().ToArray();
        Assert.All(codes, c => Assert.InRange(c, -8, 7));
        Assert.Contains(codes, c => c == -8 || c == 7);
    }

    [Theory]
    [InlineData("FP8")]
    [InlineData("FP8_DYNAMIC")]
    [InlineData("FP8_BLOCK")]
    [InlineData("NVFP4A16")]
    [InlineData("NVFP4")]
    [InlineData("MXFP4A16")]
    [InlineData("MXFP4")]
    [InlineData("MXFP8A16")]
    [InlineData("MXFP8")]
    [InlineData("W4AFP8")]
    public void Presets_dump_the_spec_json(string preset)
    {
        var s = Preset(preset);
        var w = s.Weights!.ToJson();
        var expectedWeights = preset switch
        {
            "FP8" => ("float", 8, "tensor", (int?)null, (string?)null),
            "FP8_DYNAMIC" => ("float", 8, "channel", null, null),
            "FP8_BLOCK" => ("float", 8, "block", null, null),
            "NVFP4A16" or "NVFP4" => ("float", 4, "tensor_group", 16, "torch.float8_e4m3fn"),
            "MXFP4A16" or "MXFP4" => ("float", 4, "group", 32, "torch.uint8"),
            "MXFP8A16" or "MXFP8" => ("float", 8, "group", 32, "torch.uint8"),
            _ => ("int", 4, "group", 128, null),
        };
        Assert.Equal(expectedWeights.Item1, (string?)w["type"]);
        Assert.Equal(expectedWeights.Item2, (int?)w["num_bits"]);
        Assert.Equal(expectedWeights.Item3, (string?)w["strategy"]);
        Assert.Equal(expectedWeights.Item4, (int?)w["group_size"]);
        Assert.Equal(expectedWeights.Item5, (string?)w["scale_dtype"]);
        Assert.Equal("memoryless_minmax", (string?)w["observer"]);
        Assert.True((bool?)w["symmetric"]);
        Assert.Null(w["zp_dtype"]);
        var inputs = s.InputActivations?.ToJson();
        switch (preset)
        {
            case "NVFP4A16" or "MXFP4A16" or "MXFP8A16":
                Assert.Null(inputs);
                break;
            case "FP8":
                Assert.Equal("static_minmax", (string?)inputs!["observer"]);
                Assert.False((bool?)inputs["dynamic"]);
                Assert.Equal("tensor", (string?)inputs["strategy"]);
                break;
            case "NVFP4":
                Assert.Equal("local", (string?)inputs!["dynamic"]);
                Assert.Equal("static_minmax", (string?)inputs["observer"]);
                break;
            default:
                Assert.True((bool?)inputs!["dynamic"]);
                Assert.Null(inputs["observer"]);
                Assert.Equal(preset is "FP8_DYNAMIC" or "W4AFP8" ? "token" : "group", (string?)inputs["strategy"]);
                break;
        }
    }
}
