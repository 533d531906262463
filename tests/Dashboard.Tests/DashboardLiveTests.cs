using System.Diagnostics;
using System.Globalization;
using Microsoft.Playwright;
using Offload.Coordinator.Dashboard;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;
using Xunit.Abstractions;

namespace Offload.Dashboard.Tests;

/// <summary>
/// The acceptance test of the live dashboard (issue 8): a layer-wise job runs as a child process with
/// <c>--dashboard 127.0.0.1:0 --metrics-out FILE</c>; Chromium opens the page while it runs, sees the completed-layer
/// count advance, and every device-memory value the page shows for a snapshot sequence equals the value of the
/// <c>--metrics-out</c> line with that sequence. A screenshot of the running job is saved to
/// <c>tests/Dashboard.Tests/bin/Release/net10.0/screenshots/dashboard-live.png</c>.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class DashboardLiveTests(BrowserFixture chromium, ITestOutputHelper output)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(300);
    private static readonly TimeSpan ReadInterval = TimeSpan.FromMilliseconds(150);

    public static string ScreenshotPath => Path.Combine(AppContext.BaseDirectory, "screenshots", "dashboard-live.png");

    /// <summary>
    /// The job the browser watches, as `offload` arguments (the dashboard and metrics options are appended). A 12-layer
    /// model (709 KiB per layer) over two virtual devices with a simulated 1 MiB/s link, so that each layer takes about
    /// half a second whatever the CPU and the run lasts several snapshot periods; the 16 MiB budget keeps every layer
    /// once onloaded, so device memory grows from snapshot to snapshot (a page showing the values of another sequence
    /// than the one it names would differ).
    /// </summary>
    /// <summary>The job the page watches: the embedded demo (two GPTQ calibration jobs of 6 layers each over two devices).</summary>
    private static string[] JobArguments(TempDir temp) => ["demo", "--out", temp.Sub("demo"), "--progress", "none"];

    private const int DemoLayers = 6;

    [Fact]
    public async Task The_page_follows_a_running_job_and_shows_the_metrics_export_values_of_each_snapshot()
    {
        var browser = chromium.Browser;
        using var temp = new TempDir();
        var metricsOut = temp.Sub("metrics.jsonl");
        var args = JobArguments(temp).Concat(["--dashboard", "127.0.0.1:0", "--metrics-out", metricsOut]).ToArray();

        using var job = ChildJob.Start(args);
        var url = await job.WaitForLineAsync(DashboardCli.ReadyPrefix, TimeSpan.FromSeconds(60));
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 1000 } });
        await page.GotoAsync(url[DashboardCli.ReadyPrefix.Length..].Trim());
        var first = await DashboardProbe.WaitForDataAsync(page, TimeSpan.FromSeconds(30));

        var readings = new List<PageReading> { first };
        // A screenshot of the running job: taken at the first reading with devices and a partial count, taken again
        // once half of the layers are done (fuller charts).
        var screenshot = false;
        var halfway = false;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < JobTimeout)
        {
            var r = await DashboardProbe.ReadAsync(page);
            readings.Add(r);
            var running = r.LayersCompleted is > 0 && r.LayersCompleted < r.LayersTotal && r.Devices.Count > 0;
            if (running && (!screenshot || (!halfway && r.LayersCompleted >= r.LayersTotal / 2)))
            {
                halfway = r.LayersCompleted >= r.LayersTotal / 2;
                await Task.Delay(300); // let the charts draw this frame
                Directory.CreateDirectory(Path.GetDirectoryName(ScreenshotPath)!);
                await page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath, FullPage = true });
                screenshot = true;
            }
            if (r.Connection == "ended" || (job.HasExited && r.Connection == "disconnected")) break;
            await Task.Delay(ReadInterval);
        }
        await page.CloseAsync();
        var (rc, stderr) = await job.WaitForExitAsync(JobTimeout);
        Assert.True(rc == 0, $"offload {string.Join(' ', args)} exited {rc}: {stderr}");

        var shown = readings.Where(r => r.Sequence is not null).ToList();
        output.WriteLine($"{shown.Count} readings, sequences {shown[0].Sequence}..{shown[^1].Sequence}, completed {string.Join(",", shown.Select(r => r.LayersCompleted).Distinct())}; screenshot {ScreenshotPath}");

        // The completed-layer count advances while the page watches: a reading with more layers done than the one
        // before it, in the same job (the demo runs several jobs; a new job starts again from 0).
        var counts = shown.Select(r => r.LayersCompleted ?? -1).ToList();
        Assert.True(counts.Distinct().Count() >= 2, $"the completed-layer count never changed: {string.Join(",", counts)}");
        Assert.True(Enumerable.Range(1, counts.Count - 1).Any(i => counts[i] > counts[i - 1] && counts[i - 1] > 0),
            $"the completed-layer count never advanced within a job: {string.Join(",", counts)}");
        // The stream ends with the job's final state (the end event repeats the final snapshot).
        var last = shown[^1];
        Assert.Equal("ended", last.Connection);
        Assert.Equal("finished", last.Status);
        Assert.Equal(DemoLayers, last.LayersTotal);
        Assert.Equal(DemoLayers, last.LayersCompleted);
        Assert.True(screenshot, "no reading of the running job had devices and a partial layer count to photograph");
        Assert.True(new FileInfo(ScreenshotPath).Length > 10_000, "the screenshot is (nearly) empty");

        // Device memory on the page equals the metrics export of the same snapshot.
        var exported = MetricsExport.Read(metricsOut);
        var withDevices = shown.Where(r => r.Devices.Count > 0).ToList();
        Assert.True(withDevices.Count >= 2, "the page showed device memory in fewer than two readings");
        var compared = 0;
        foreach (var r in withDevices)
        {
            Assert.True(exported.TryGetValue(r.Sequence!.Value, out var line), $"--metrics-out has no line with sequence {r.Sequence}");
            Assert.Equal(line.Keys.Order(), r.Devices.Select(d => d.Id).Order());
            foreach (var d in r.Devices)
            {
                Assert.NotNull(d.Used);
                Assert.NotNull(d.Limit);
                Assert.Equal(line[d.Id].Used, d.Used!.Value);
                Assert.Equal(line[d.Id].Limit, d.Limit!.Value);
                compared++;
            }
        }
        Assert.Contains(withDevices, r => r.Devices.Any(d => d.Used > 0 && d.Limit > d.Used));
        var usedValues = withDevices.SelectMany(r => r.Devices.Select(d => d.Used)).Distinct().Count();
        // The demo's devices fill up quickly and stay near their budget, so two values (empty, and full) are the least a
        // run shows; the per-sequence equality above is what this test is about.
        Assert.True(usedValues >= 2, $"device memory took only {usedValues} values: the sequence check would be weak");
        output.WriteLine($"{compared} device values compared with --metrics-out");
    }
}
