using System.Globalization;
using Offload.Protocol;

namespace Offload.DeviceActors;

/// <summary>Size strings: "64MiB", "8GiB", "1.5GB", "4096" (bytes); binary (KiB, MiB, GiB, TiB) and decimal (KB, MB, GB, TB) units.</summary>
public static class ByteSize
{
    /// <summary>Parses a size; throws <see cref="OffloadException"/> naming <paramref name="option"/> on a bad string.</summary>
    public static long Parse(string text, string option = "size")
    {
        var t = text.Trim();
        var i = 0;
        while (i < t.Length && (char.IsDigit(t[i]) || t[i] == '.')) i++;
        var unit = t[i..].Trim().ToUpperInvariant();
        if (i == 0 || !double.TryParse(t[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            throw new OffloadException($"{option} '{text}' is not a size; write e.g. 64MiB, 8GiB or 1048576");
        double scale = unit switch
        {
            "" or "B" => 1,
            "K" or "KIB" => 1L << 10,
            "M" or "MIB" => 1L << 20,
            "G" or "GIB" => 1L << 30,
            "T" or "TIB" => 1L << 40,
            "KB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "TB" => 1e12,
            _ => throw new OffloadException($"{option} '{text}' has an unknown unit '{unit}'; use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB"),
        };
        var bytes = value * scale;
        if (!(bytes >= 1) || bytes > long.MaxValue / 2) throw new OffloadException($"{option} '{text}' is out of range; give at least 1 byte");
        return (long)Math.Round(bytes);
    }

    /// <summary>A short human-readable size, e.g. "12.5 MiB".</summary>
    public static string Format(long bytes)
    {
        var inv = CultureInfo.InvariantCulture;
        var a = Math.Abs((double)bytes);
        if (a >= 1L << 30) return string.Create(inv, $"{bytes / (double)(1L << 30):F2} GiB");
        if (a >= 1L << 20) return string.Create(inv, $"{bytes / (double)(1L << 20):F2} MiB");
        if (a >= 1L << 10) return string.Create(inv, $"{bytes / (double)(1L << 10):F1} KiB");
        return string.Create(inv, $"{bytes} B");
    }
}
