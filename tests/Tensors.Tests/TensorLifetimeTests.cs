using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;
using Xunit;

namespace Offload.Tensors.Tests;

public sealed class TensorLifetimeTests
{
    [Fact]
    public void Native_memory_is_freed_once_after_the_last_view()
    {
        var before = NativeStorage.LiveBytes;
        var t = Tensor.Zeros(DType.F32, 4, 8);
        var view = t.Slice(1, 2);
        Assert.Equal(before + 128, NativeStorage.LiveBytes);
        t.Dispose();
        t.Dispose(); // a second dispose is a no-op
        Assert.Equal(before + 128, NativeStorage.LiveBytes);
        Assert.False(view.Storage.IsReleased);
        view.Dispose();
        Assert.True(view.Storage.IsReleased);
        Assert.Equal(before, NativeStorage.LiveBytes);
    }

    [Fact]
    public void Slice_views_rows_of_the_same_storage()
    {
        using var t = Tensor.FromArray(new float[] { 0, 1, 2, 3, 4, 5 }, 3, 2);
        using var rows = t.Slice(1, 2);
        Assert.Equal(new long[] { 2, 2 }, rows.Shape.ToArray());
        Assert.Equal(new float[] { 2, 3, 4, 5 }, rows.ReadOnlySpan<float>().ToArray());
        rows.Span<float>()[0] = 42;
        Assert.Equal(42, t.ReadOnlySpan<float>()[2]);
    }
}
