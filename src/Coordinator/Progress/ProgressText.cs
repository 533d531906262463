using System.Globalization;

namespace Offload.Coordinator.Progress;

/// <summary>How the progress views write rates and durations.</summary>
public static class ProgressText
{
    /// <summary>"12.3 layers/s" at one layer per second or more, else "4.2 s/layer"; "–" for no rate yet.</summary>
    public static string Rate(double layersPerSecond) =>
        layersPerSecond <= 0 || !double.IsFinite(layersPerSecond) ? "–"
        : layersPerSecond >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{layersPerSecond:F1} layers/s")
        : string.Create(CultureInfo.InvariantCulture, $"{1 / layersPerSecond:F1} s/layer");

    /// <summary>"0.42 s", "12.3 s", "3 min 05 s", "1 h 02 min".</summary>
    public static string Duration(TimeSpan t)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = t.TotalSeconds;
        if (s < 10) return string.Create(inv, $"{s:F2} s");
        if (s < 60) return string.Create(inv, $"{s:F1} s");
        if (s < 3600) return string.Create(inv, $"{(int)t.TotalMinutes} min {t.Seconds:D2} s");
        return string.Create(inv, $"{(int)t.TotalHours} h {t.Minutes:D2} min");
    }
}
