using System.Text.Json;
using Offload.Protocol.Telemetry;

namespace Offload.Dashboard.Tests;

/// <summary>Reads the device-memory values of every "metrics" line of a --metrics-out file, by sequence.</summary>
internal static class MetricsExport
{
    /// <summary>seq → device id → (usage, limit) as written in the file.</summary>
    public static Dictionary<long, Dictionary<string, (double Used, double Limit)>> Read(string path)
    {
        var bySequence = new Dictionary<long, Dictionary<string, (double Used, double Limit)>>();
        foreach (var line in File.ReadLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.GetProperty("type").GetString() != "metrics") continue;
            var devices = new Dictionary<string, (double Used, double Limit)>();
            foreach (var p in root.GetProperty("points").EnumerateArray())
            {
                var name = p.GetProperty("name").GetString();
                if (name != OffloadTelemetry.DeviceMemoryUsage && name != OffloadTelemetry.DeviceMemoryLimit) continue;
                var id = p.GetProperty("attributes").GetProperty(OffloadTelemetry.AttrDevice).GetString()!;
                var value = p.GetProperty("value").GetDouble();
                var (used, limit) = devices.GetValueOrDefault(id, (double.NaN, double.NaN));
                devices[id] = name == OffloadTelemetry.DeviceMemoryUsage ? (value, limit) : (used, value);
            }
            bySequence.Add(root.GetProperty("seq").GetInt64(), devices);
        }
        return bySequence;
    }
}
