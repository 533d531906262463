using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;
using Offload.Protocol.Telemetry;

namespace Offload.Runtime;

/// <summary>
/// The default mailbox of Offload's actor systems: Akka.NET's unbounded queue, counted. It feeds the observable
/// <see cref="OffloadTelemetry.MailboxDepth"/> — user messages waiting in the mailboxes of every live user actor of the
/// process (Offload's own actor classes), summed per actor type (attribute <see cref="OffloadTelemetry.AttrActorType"/> = the actor's class name: low
/// cardinality). The sum is taken only when a listener collects, so a message costs one interlocked add on each side.
/// Bound with <c>akka.actor.default-mailbox.mailbox-type = "Offload.Runtime.MeteredMailbox, Offload.Runtime"</c>.
/// </summary>
public sealed class MeteredMailbox : MailboxType, IProducesMessageQueue<MeteredMailbox.Queue>
{
    private static readonly ConcurrentDictionary<Queue, byte> Live = new();

    static MeteredMailbox()
    {
        OffloadTelemetry.Meter.CreateObservableUpDownCounter(OffloadTelemetry.MailboxDepth, Observe, "{message}",
            "User messages waiting in actor mailboxes, per actor type");
    }

    /// <summary>Akka.NET creates the mailbox type from the dispatcher settings.</summary>
    public MeteredMailbox(Settings settings, Config config)
        : base(settings, config)
    {
    }

    /// <summary>A counted queue for <paramref name="owner"/> (traced when it is a <see cref="TracedReceiveActor"/>).</summary>
    public override IMessageQueue Create(IActorRef owner, ActorSystem system)
    {
        // Only Offload's own actors are reported, wherever they live (sharded entities are under /system/sharding):
        // Akka's guardians, sharding and singleton machinery are not the job's work.
        string? type = null;
        var traced = false;
        if (owner is ActorRefWithCell withCell && withCell.Underlying.Props.Type is { } actorType
            && actorType.Namespace?.StartsWith("Offload.", StringComparison.Ordinal) == true)
        {
            type = actorType.Name;
            traced = typeof(TracedReceiveActor).IsAssignableFrom(actorType);
        }
        var queue = new Queue(type, traced);
        if (type is not null) Live.TryAdd(queue, 0);
        return queue;
    }

    private static IEnumerable<Measurement<long>> Observe()
    {
        var depth = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var q in Live.Keys) depth[q.ActorType!] = depth.GetValueOrDefault(q.ActorType!) + q.Count;
        var list = new List<Measurement<long>>(depth.Count);
        foreach (var (type, n) in depth) list.Add(new Measurement<long>(n, new KeyValuePair<string, object?>(OffloadTelemetry.AttrActorType, type)));
        return list;
    }

    /// <summary>
    /// An unbounded queue that leaves the metric when its actor stops. For a <see cref="TracedReceiveActor"/> it wraps
    /// each of Offload's own messages sent under a span (and only those: Akka's messages such as PoisonPill must reach
    /// the cell as they are) in a <see cref="TracedMessage"/>.
    /// </summary>
    public sealed class Queue(string? actorType, bool traced) : IMessageQueue, IUnboundedMessageQueueSemantics
    {
        private readonly UnboundedMessageQueue _inner = new();

        /// <summary>The class name of the owning user actor; null for system actors (not reported).</summary>
        public string? ActorType { get; } = actorType;

        /// <inheritdoc/>
        public bool HasMessages => _inner.HasMessages;

        /// <inheritdoc/>
        public int Count => _inner.Count;

        /// <inheritdoc/>
        public void Enqueue(IActorRef receiver, Envelope envelope)
        {
            if (traced && Activity.Current is { } current && envelope.Message is not TracedMessage
                && envelope.Message.GetType().Namespace?.StartsWith("Offload.", StringComparison.Ordinal) == true
                && OffloadTelemetry.Source.HasListeners())
                envelope = new Envelope(new TracedMessage(envelope.Message, current.Context), envelope.Sender);
            _inner.Enqueue(receiver, envelope);
        }

        /// <inheritdoc/>
        public bool TryDequeue(out Envelope envelope) => _inner.TryDequeue(out envelope);

        /// <inheritdoc/>
        public void CleanUp(IActorRef owner, IMessageQueue deadletters)
        {
            Live.TryRemove(this, out _);
            _inner.CleanUp(owner, deadletters);
        }
    }
}
