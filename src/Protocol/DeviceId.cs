namespace Offload.Protocol;

/// <summary>A device on one node: "cpu:0", "cuda:1". CPU virtual devices share the host but keep separate budgets.</summary>
public readonly record struct DeviceId(DeviceKind Kind, int Index)
{
    /// <summary>The host itself, where offloaded parameters live between uses.</summary>
    public static readonly DeviceId Host = new(DeviceKind.Cpu, 0);

    public override string ToString() => $"{(Kind == DeviceKind.Cpu ? "cpu" : "cuda")}:{Index}";

    /// <summary>Parses "cpu", "cpu:3", "cuda:0"; throws <see cref="FormatException"/> with a one-line fix otherwise.</summary>
    public static DeviceId Parse(string text)
    {
        if (TryParse(text, out var id)) return id;
        throw new FormatException($"device '{text}' is not a device id: write cpu:N or cuda:N (for example cpu:0,cpu:1)");
    }

    public static bool TryParse(string text, out DeviceId id)
    {
        id = default;
        var t = text.Trim().ToLowerInvariant();
        var colon = t.IndexOf(':');
        var kindText = colon < 0 ? t : t[..colon];
        var index = 0;
        if (colon >= 0 && !int.TryParse(t[(colon + 1)..], System.Globalization.NumberStyles.None, null, out index)) return false;
        switch (kindText)
        {
            case "cpu": id = new DeviceId(DeviceKind.Cpu, index); return true;
            case "cuda" or "gpu": id = new DeviceId(DeviceKind.Cuda, index); return true;
            default: return false;
        }
    }
}
