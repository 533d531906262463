using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Playwright;

namespace Offload.Dashboard.Tests;

/// <summary>One device row as the page shows it (data-used / data-limit attributes, raw bytes).</summary>
internal sealed record DeviceReading(string Id, double? Used, double? Limit);

/// <summary>What the page shows at one moment, read in one script task (so all of it belongs to one frame).</summary>
internal sealed record PageReading(long? Sequence, int? LayersCompleted, int? LayersTotal, string Status, string Connection, IReadOnlyList<DeviceReading> Devices);

/// <summary>Reads the dashboard page through its stable element ids and data attributes.</summary>
internal static class DashboardProbe
{
    private const string Script = """
        () => JSON.stringify({
          sequence: document.getElementById('sequence').dataset.sequence,
          completed: document.getElementById('layers-completed').dataset.value,
          total: document.getElementById('layers-total').dataset.value,
          status: document.getElementById('job-status').dataset.status,
          connection: document.getElementById('connection').dataset.state,
          devices: [...document.querySelectorAll('#devices tbody tr[data-device]')]
            .map(r => ({ id: r.dataset.device, used: r.dataset.used, limit: r.dataset.limit }))
        })
        """;

    public static async Task<PageReading> ReadAsync(IPage page)
    {
        using var doc = JsonDocument.Parse(await page.EvaluateAsync<string>(Script));
        var r = doc.RootElement;
        return new PageReading(
            Long(r.GetProperty("sequence").GetString()),
            (int?)Long(r.GetProperty("completed").GetString()),
            (int?)Long(r.GetProperty("total").GetString()),
            r.GetProperty("status").GetString() ?? "",
            r.GetProperty("connection").GetString() ?? "",
            r.GetProperty("devices").EnumerateArray().Select(d => new DeviceReading(
                d.GetProperty("id").GetString() ?? "", Double(d.GetProperty("used").GetString()), Double(d.GetProperty("limit").GetString()))).ToList());
    }

    /// <summary>Waits until the page shows a snapshot; fails with "shows no data" when none arrives in time.</summary>
    public static async Task<PageReading> WaitForDataAsync(IPage page, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var reading = await ReadAsync(page);
            if (reading.Sequence is > 0) return reading;
            if (sw.Elapsed > timeout)
                throw new DashboardShowsNoDataException($"the dashboard shows no data after {timeout.TotalSeconds:F0} s (connection: {reading.Connection})");
            await Task.Delay(100);
        }
    }

    private static long? Long(string? s) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static double? Double(string? s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
}
