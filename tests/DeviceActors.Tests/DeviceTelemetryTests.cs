using Akka.Actor;
using Offload.Compression.Sequential;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Offload.Tensors;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.DeviceActors.Tests;

/// <summary>The device metrics. Each test uses a device index no other test uses, so parallel tests do not mix in.</summary>
public sealed class DeviceTelemetryTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(20);
    private static int s_next = 7000 + Random.Shared.Next(1000);

    private static DeviceId UniqueDevice() => new(DeviceKind.Cpu, Interlocked.Increment(ref s_next));

    [Fact]
    public void Transform_cache_counts_a_miss_per_created_weight_and_a_hit_per_reuse()
    {
        var dev = UniqueDevice();
        using var rec = new MeasurementRecorder(OffloadTelemetry.TransformCacheHits, OffloadTelemetry.TransformCacheMisses, OffloadTelemetry.TransformCacheSize);
        var cache = new DeviceTransformCache(dev, new DeviceMemory(dev, 100_000));
        var a = new TransformCacheKey("hadamard", 16, DType.F32, dev, 0);
        var b = new TransformCacheKey("hadamard", 16, DType.F32, dev, 1);
        cache.Acquire(a, () => Tensor.Zeros(DType.F32, 16, 16));
        cache.Acquire(a, () => Tensor.Zeros(DType.F32, 16, 16));
        cache.Acquire(a, () => Tensor.Zeros(DType.F32, 16, 16));
        cache.Acquire(b, () => Tensor.Zeros(DType.F32, 16, 16));
        Assert.Equal([1.0, 1.0], rec.Values(OffloadTelemetry.TransformCacheMisses, OffloadTelemetry.AttrDevice, dev.ToString()));
        Assert.Equal([1.0, 1.0], rec.Values(OffloadTelemetry.TransformCacheHits, OffloadTelemetry.AttrDevice, dev.ToString()));
        // Not started as a device: the registry does not observe its size.
        rec.Observe();
        Assert.Empty(rec.Values(OffloadTelemetry.TransformCacheSize, OffloadTelemetry.AttrDevice, dev.ToString()));
    }

    [Fact]
    public async Task A_running_device_reports_usage_limit_cache_size_and_h2d_transfers_and_leaves_when_it_stops()
    {
        var dev = UniqueDevice();
        var name = dev.ToString();
        using var rec = new MeasurementRecorder(OffloadTelemetry.DeviceMemoryUsage, OffloadTelemetry.DeviceMemoryLimit, OffloadTelemetry.TransformCacheSize,
            OffloadTelemetry.TransferSize, OffloadTelemetry.TransferDuration);
        var stopping = new List<(DeviceId Device, bool StillListed)>();
        void OnStopping(DeviceId d)
        {
            if (d != dev) return;
            lock (stopping) stopping.Add((d, DeviceRegistry.Devices.Contains(d)));
        }
        DeviceRegistry.Stopping += OnStopping;
        try
        {
            var system = ActorSystem.Create("device-telemetry");
            var client = DeviceClient.Start(system, new DeviceOptions(dev, 10_000));
            using var w = Tensor.Zeros(DType.F32, 100);   // 400 B
            using (await client.OnloadAsync("l0", [("w", w.Share())]).WaitAsync(Safety)) { }
            client.Transforms.Acquire(new TransformCacheKey("hadamard", 8, DType.F32, dev, 0), () => Tensor.Zeros(DType.F32, 8, 8)); // 256 B
            await client.StatsAsync().WaitAsync(Safety); // the actor has started (registered) and handled the transfer

            rec.Observe();
            Assert.Equal([10_000.0], rec.Values(OffloadTelemetry.DeviceMemoryLimit, OffloadTelemetry.AttrDevice, name));
            Assert.Equal([656.0], rec.Values(OffloadTelemetry.DeviceMemoryUsage, OffloadTelemetry.AttrDevice, name));
            Assert.Equal([256.0], rec.Values(OffloadTelemetry.TransformCacheSize, OffloadTelemetry.AttrDevice, name));
            var h2d = rec.All.Where(m => m.Name == OffloadTelemetry.TransferSize && m.Tags.GetValueOrDefault(OffloadTelemetry.AttrDevice) == name).ToList();
            var one = Assert.Single(h2d);
            Assert.Equal((400.0, OffloadTelemetry.Directions.HostToDevice), (one.Value, one.Tags[OffloadTelemetry.AttrDirection]));
            var duration = Assert.Single(rec.Values(OffloadTelemetry.TransferDuration, OffloadTelemetry.AttrDevice, name));
            Assert.True(duration >= 0);

            await system.Terminate().WaitAsync(Safety);
            client.FreeAll();
            lock (stopping) Assert.Equal([(dev, true)], stopping);
            Assert.DoesNotContain(dev, DeviceRegistry.Devices);
            rec.Clear();
            rec.Observe();
            Assert.Empty(rec.Values(OffloadTelemetry.DeviceMemoryLimit, OffloadTelemetry.AttrDevice, name));
        }
        finally
        {
            DeviceRegistry.Stopping -= OnStopping;
        }
    }
}
