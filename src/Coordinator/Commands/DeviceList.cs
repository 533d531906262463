using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>The `--devices` option's value: a comma-separated list such as "cpu:0,cpu:1".</summary>
public static class DeviceList
{
    public static IReadOnlyList<DeviceId> Parse(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => DeviceId.TryParse(d, out var id) ? id : throw new OffloadException($"--devices: '{d}' is not a device; write cpu:N, e.g. cpu:0,cpu:1"))
            .ToArray();
}
