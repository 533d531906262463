using System.Diagnostics.Metrics;
using Offload.Protocol;
using Offload.Protocol.Telemetry;

namespace Offload.DeviceActors;

/// <summary>
/// The live devices of this process: the <see cref="DeviceMemory"/> ledger (and transform cache) of every running
/// <see cref="DeviceActor"/>, registered when the actor starts and removed when it stops. It owns the observable
/// instruments read from them — <see cref="OffloadTelemetry.DeviceMemoryUsage"/> (resident bytes),
/// <see cref="OffloadTelemetry.DeviceMemoryLimit"/> (the budget) and <see cref="OffloadTelemetry.TransformCacheSize"/>,
/// each with attribute <see cref="OffloadTelemetry.AttrDevice"/> — observed only when a listener collects.
/// Thread-safe.
/// </summary>
public static class DeviceRegistry
{
    private static readonly Lock Gate = new();
    private static readonly List<(DeviceMemory Memory, DeviceTransformCache? Transforms)> Live = new();

    static DeviceRegistry()
    {
        var meter = OffloadTelemetry.Meter;
        meter.CreateObservableUpDownCounter(OffloadTelemetry.DeviceMemoryUsage, () => Observe(static (m, _) => m.ResidentBytes), "By",
            "Device memory held in the device's ledger (parameter copies, workspace, transforms)");
        meter.CreateObservableUpDownCounter(OffloadTelemetry.DeviceMemoryLimit, () => Observe(static (m, _) => m.BudgetBytes), "By",
            "The device's memory budget");
        meter.CreateObservableUpDownCounter(OffloadTelemetry.TransformCacheSize, () => Observe(static (_, t) => t?.ResidentBytes), "By",
            "Bytes held by the device's shared transform cache");
    }

    /// <summary>
    /// Raised when a device stops, before it leaves the registry (its last values are still observable: a telemetry
    /// session collects here so that a short job's devices reach the export). Handlers run on the stopping actor.
    /// </summary>
    public static event Action<DeviceId>? Stopping;

    /// <summary>The devices registered now, in registration order.</summary>
    public static IReadOnlyList<DeviceId> Devices
    {
        get
        {
            lock (Gate) return Live.Select(l => l.Memory.Device).ToArray();
        }
    }

    /// <summary>Registers a started device's ledger and transform cache (once per ledger).</summary>
    public static void Register(DeviceMemory memory, DeviceTransformCache? transforms)
    {
        ArgumentNullException.ThrowIfNull(memory);
        lock (Gate)
        {
            if (Live.Exists(l => ReferenceEquals(l.Memory, memory))) return;
            Live.Add((memory, transforms));
        }
    }

    /// <summary>Raises <see cref="Stopping"/>, then removes the ledger; false when it was not registered.</summary>
    public static bool Unregister(DeviceMemory memory)
    {
        lock (Gate)
        {
            if (!Live.Exists(l => ReferenceEquals(l.Memory, memory))) return false;
        }
        Stopping?.Invoke(memory.Device);
        lock (Gate) return Live.RemoveAll(l => ReferenceEquals(l.Memory, memory)) > 0;
    }

    private static List<Measurement<long>> Observe(Func<DeviceMemory, DeviceTransformCache?, long?> read)
    {
        (DeviceMemory, DeviceTransformCache?)[] live;
        lock (Gate) live = [.. Live];
        var list = new List<Measurement<long>>(live.Length);
        foreach (var (memory, transforms) in live)
        {
            if (read(memory, transforms) is { } v)
                list.Add(new Measurement<long>(v, new KeyValuePair<string, object?>(OffloadTelemetry.AttrDevice, memory.Device.ToString())));
        }
        return list;
    }
}
