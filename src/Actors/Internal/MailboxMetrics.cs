using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Offload.Protocol.Telemetry;

namespace Offload.Actors.Internal;

/// <summary>
/// The observable <see cref="OffloadTelemetry.MailboxDepth"/>: user messages waiting in the mailboxes of every live
/// actor of the process, summed per actor type (attribute <see cref="OffloadTelemetry.AttrActorType"/> = the actor's
/// class name: low cardinality). Cells join on start and leave when terminated; the sum is taken only when a listener
/// collects, so sending a message costs nothing extra.
/// </summary>
internal static class MailboxMetrics
{
    private static readonly ConcurrentDictionary<ActorCell, byte> Live = new();

    static MailboxMetrics()
    {
        OffloadTelemetry.Meter.CreateObservableUpDownCounter(OffloadTelemetry.MailboxDepth, Observe, "{message}",
            "User messages waiting in actor mailboxes, per actor type");
    }

    public static void Add(ActorCell cell) => Live.TryAdd(cell, 0);

    public static void Remove(ActorCell cell) => Live.TryRemove(cell, out _);

    private static IEnumerable<Measurement<long>> Observe()
    {
        var depth = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var cell in Live.Keys)
        {
            var type = cell.Props.ActorType.Name;
            depth[type] = depth.GetValueOrDefault(type) + cell.MailboxDepth;
        }
        var list = new List<Measurement<long>>(depth.Count);
        foreach (var (type, n) in depth) list.Add(new Measurement<long>(n, new KeyValuePair<string, object?>(OffloadTelemetry.AttrActorType, type)));
        return list;
    }
}
