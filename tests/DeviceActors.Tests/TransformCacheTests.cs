using Offload.Compression.Sequential;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.DeviceActors.Tests;

public sealed class TransformCacheTests
{
    private static readonly DeviceId Cpu0 = new(DeviceKind.Cpu, 0);

    [Fact]
    public void Shares_one_tensor_per_key_counts_references_and_frees_with_the_last_user()
    {
        var memory = new DeviceMemory(Cpu0, 10_000);
        var cache = new DeviceTransformCache(Cpu0, memory);
        var key = new TransformCacheKey("hadamard", 16, DType.F32, Cpu0, 0);
        var created = 0;
        Tensor Make()
        {
            created++;
            return Tensor.Zeros(DType.F32, 16, 16);
        }
        var first = cache.Acquire(key, Make);
        var second = cache.Acquire(key, Make);
        Assert.Same(first, second);
        Assert.Equal(1, created);
        Assert.Equal(2, cache.RefCount(key));
        Assert.Equal(16 * 16 * 4, memory.ResidentBytes);
        Assert.Equal(16 * 16 * 4, memory.PinnedBytes);
        cache.Release(key);
        Assert.Equal(16 * 16 * 4, memory.ResidentBytes);
        cache.Release(key);
        Assert.Equal(0, memory.ResidentBytes);
        Assert.Equal(0, cache.ResidentBytes);
        Assert.True(first.IsDisposed);
    }

    [Fact]
    public void Keys_differing_in_seed_or_size_are_different_weights()
    {
        var memory = new DeviceMemory(Cpu0, 1 << 20);
        var cache = new DeviceTransformCache(Cpu0, memory);
        var a = cache.Acquire(new TransformCacheKey("hadamard", 8, DType.F32, Cpu0, 0), () => Tensor.Zeros(DType.F32, 8, 8));
        var b = cache.Acquire(new TransformCacheKey("hadamard", 8, DType.F32, Cpu0, 1), () => Tensor.Zeros(DType.F32, 8, 8));
        var c = cache.Acquire(new TransformCacheKey("hadamard", 4, DType.F32, Cpu0, 0), () => Tensor.Zeros(DType.F32, 4, 4));
        Assert.NotSame(a, b);
        Assert.NotSame(a, c);
        Assert.Equal(4 * (64 + 64 + 16), memory.ResidentBytes);
    }

    [Fact]
    public void A_transform_that_cannot_fit_fails_with_the_bytes_needed()
    {
        var memory = new DeviceMemory(Cpu0, 100);
        var cache = new DeviceTransformCache(Cpu0, memory);
        var ex = Assert.Throws<DeviceMemoryException>(() =>
            cache.Acquire(new TransformCacheKey("hadamard", 8, DType.F32, Cpu0, 0), () => Tensor.Zeros(DType.F32, 8, 8)));
        Assert.Equal(256, ex.NeededBytes);
        Assert.Equal(0, memory.ResidentBytes);
    }
}
