using Offload.Protocol;
using Offload.Tensors.Formats;
using Xunit;

namespace Offload.Tensors.Tests.Formats;

/// <summary>F8 tensors through <see cref="TensorConvert"/> / <see cref="Tensor.To"/>: values against <see cref="Float8Reference"/>.</summary>
public sealed class Float8TensorConvertTests
{
    [Theory]
    [InlineData(DType.F8E4M3)]
    [InlineData(DType.F8E5M2)]
    public void F32_to_f8_is_the_torch_cast_and_back_is_exact(DType dtype)
    {
        var reference = dtype == DType.F8E4M3 ? Float8Reference.E4M3 : Float8Reference.E5M2;
        float[] values = [0f, -0f, 1f, -2.75f, 0.1f, 300f, 500f, 1e-3f, -7e4f, 1e-9f];
        using var src = Tensor.FromArray(values, 2, 5);
        using var f8 = src.To(dtype);
        Assert.Equal(dtype, f8.DType);
        Assert.Equal(10, f8.ByteLength);
        var codes = f8.Bytes().ToArray();
        for (var i = 0; i < values.Length; i++) Assert.Equal(reference.Encode(values[i]), codes[i]);

        using var back = f8.To(DType.F32);
        var floats = back.ReadOnlySpan<float>();
        var doubles = new double[10];
        TensorConvert.ToF64(f8, doubles);
        for (var i = 0; i < values.Length; i++)
        {
            var expected = reference.Value(codes[i]);
            if (double.IsNaN(expected)) { Assert.True(float.IsNaN(floats[i])); Assert.True(double.IsNaN(doubles[i])); continue; }
            Assert.Equal(expected, (double)floats[i]);
            Assert.Equal(expected, doubles[i]);
        }

        // From f64 (through f32, as torch's float8 constructor takes a float).
        using var f64 = Tensor.FromArray(values.Select(v => (double)v).ToArray(), 10);
        using var f8b = f64.To(dtype);
        Assert.Equal(codes, f8b.Bytes().ToArray());
    }
}
