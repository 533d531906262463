using System.Globalization;

namespace Offload.Coordinator.Progress;

/// <summary>
/// Plain progress lines (redirected output, CI logs); layers are numbered from 1:
/// <code>
/// eval: 16 layers × 6 batches on cpu:0,cpu:1
/// layer 1/16 0.04 s (calibrate 0.03 s, offload 0.00 s) · 24.3 layers/s · ETA 0.62 s
/// eval: 16 layers in 0.70 s (22.9 layers/s)
/// </code>
/// </summary>
internal sealed class PlainProgressView(TextWriter output) : IProgressView
{
    public void Started(ProgressSnapshot s)
    {
        var resumed = s.FirstLayer is > 0 ? string.Create(CultureInfo.InvariantCulture, $", resuming at layer {s.FirstLayer + 1}/{s.TotalLayers} ({s.FirstLayer} done)") : "";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Kind}: {s.TotalLayers} layers × {s.Batches} batches on {s.Devices}{resumed}"));
        output.Flush();
    }

    public void LayerDone(ProgressSnapshot s, int layer, TimeSpan wall, IReadOnlyList<(string Phase, TimeSpan Time)> phases)
    {
        var parts = string.Join(", ", phases.Select(p => $"{p.Phase} {ProgressText.Duration(p.Time)}"));
        var eta = s.Eta is { } e ? ProgressText.Duration(e) : "–";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"layer {layer + 1}/{s.TotalLayers} {ProgressText.Duration(wall)} ({parts}) · {ProgressText.Rate(s.LayersPerSecond)} · ETA {eta}"));
        output.Flush();
    }

    public void LayerFailed(ProgressSnapshot s, int layer, TimeSpan wall, string? phase)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"layer {layer + 1}/{s.TotalLayers} failed after {ProgressText.Duration(wall)}{(phase is null ? "" : $" in {phase}")}"));
        output.Flush();
    }

    public void Finished(ProgressSnapshot s, TimeSpan wall)
    {
        // A job span that ends with layers left is a failed run: the CLI's error line follows.
        output.WriteLine(s.Remaining > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{s.Kind}: stopped after {s.LayersDone} of {s.TotalLayers - (s.FirstLayer ?? 0)} layers ({ProgressText.Duration(wall)})")
            : string.Create(CultureInfo.InvariantCulture, $"{s.Kind}: {s.LayersDone} layers in {ProgressText.Duration(wall)} ({ProgressText.Rate(s.LayersPerSecond)})"));
        output.Flush();
    }

    public void Dispose()
    {
    }
}
