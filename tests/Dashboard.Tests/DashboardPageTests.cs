using System.Diagnostics.Metrics;
using Offload.Coordinator.Dashboard;
using Offload.Coordinator.Telemetry;
using Offload.Protocol.Telemetry;
using Xunit;

namespace Offload.Dashboard.Tests;

/// <summary>The page in Chromium against an in-process dashboard: it renders a frame's values, and the probe fails without the feed.</summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardPageTests(BrowserFixture chromium)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_page_shows_the_device_memory_of_the_snapshot_it_names()
    {
        // Instruments of the same names on a meter named "Offload", with a device no other test uses.
        var device = "test:" + Guid.NewGuid().ToString("N")[..8];
        long used = 1_000_000;
        using var meter = new Meter(OffloadTelemetry.Name);
        meter.CreateObservableUpDownCounter(OffloadTelemetry.DeviceMemoryUsage, () => new Measurement<long>(Volatile.Read(ref used), Tag(device)), "By");
        meter.CreateObservableUpDownCounter(OffloadTelemetry.DeviceMemoryLimit, () => new Measurement<long>(64L << 20, Tag(device)), "By");
        using var metrics = new MetricsCollector();
        using var session = DashboardSession.Start(DashboardAddress.Parse("127.0.0.1:0", false), metrics);

        var page = await chromium.Browser.NewPageAsync();
        await page.GotoAsync(session.Url.ToString());
        var first = metrics.Collect();
        await page.WaitForFunctionAsync($"() => document.getElementById('sequence').dataset.sequence === '{first.Sequence}'", null, new() { Timeout = (float)Wait.TotalMilliseconds });
        var reading = await DashboardProbe.ReadAsync(page);
        var row = Assert.Single(reading.Devices, d => d.Id == device);
        Assert.Equal(1_000_000, row.Used);
        Assert.Equal(64L << 20, row.Limit);
        Assert.Equal("976.6 KiB", await page.TextContentAsync($"#devices tr[data-device='{device}'] td.used"));

        Volatile.Write(ref used, 3_000_000);
        var second = metrics.Collect();
        await page.WaitForFunctionAsync($"() => document.getElementById('sequence').dataset.sequence === '{second.Sequence}'", null, new() { Timeout = (float)Wait.TotalMilliseconds });
        reading = await DashboardProbe.ReadAsync(page);
        Assert.Equal(3_000_000, Assert.Single(reading.Devices, d => d.Id == device).Used);
        Assert.Equal(1, await page.Locator($"#memory-chart polyline[data-series='{device} used']").CountAsync());
        await page.CloseAsync();
    }

    [Fact]
    public async Task The_probe_fails_on_a_page_whose_feed_is_blocked_and_passes_with_it()
    {
        using var metrics = new MetricsCollector();
        using var session = DashboardSession.Start(DashboardAddress.Parse("127.0.0.1:0", false), metrics);
        metrics.StartPeriodic(TimeSpan.FromMilliseconds(100));

        var blocked = await chromium.Browser.NewPageAsync();
        await blocked.RouteAsync("**/events", route => route.AbortAsync());
        await blocked.GotoAsync(session.Url.ToString());
        await Assert.ThrowsAsync<DashboardShowsNoDataException>(() => DashboardProbe.WaitForDataAsync(blocked, TimeSpan.FromSeconds(3)));
        var empty = await DashboardProbe.ReadAsync(blocked);
        Assert.Null(empty.Sequence);
        Assert.Empty(empty.Devices);
        await blocked.CloseAsync();

        var open = await chromium.Browser.NewPageAsync();
        await open.GotoAsync(session.Url.ToString());
        var reading = await DashboardProbe.WaitForDataAsync(open, Wait);
        Assert.True(reading.Sequence > 0);
        Assert.Equal("live", reading.Connection);
        await open.CloseAsync();
    }

    private static KeyValuePair<string, object?> Tag(string device) => new(OffloadTelemetry.AttrDevice, device);
}
