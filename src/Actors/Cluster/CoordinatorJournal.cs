using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Offload.Protocol.Cluster;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Offload.Actors.Cluster;

/// <summary>
/// The coordinator's event journal: a RabbitMQ stream (an append-only, durable log; replicated over the broker nodes
/// like a quorum queue when the broker is clustered). Why a stream and not a file: the coordinator singleton moves
/// between machines, and the broker is the one store every coordinator-role node already reaches — a file journal
/// would need a shared disk. A stream can be read from its first entry by any number of readers without consuming
/// it, and a writer cut off from the broker cannot append at all.
/// <para>Replay: the new coordinator appends a <see cref="TakeoverMarker"/> with a fresh id, then reads from the first
/// entry until it meets its own marker — so it has seen everything any earlier coordinator appended before it.</para>
/// </summary>
public sealed class CoordinatorJournal(BrokerConnection broker, ILogger log)
{
    /// <summary>Appends one event and waits for the broker's confirm (the event is durable when this completes).</summary>
    public Task AppendAsync(CoordinatorEvent e, CancellationToken ct = default)
    {
        if (e.UnixMs == 0) e.UnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return broker.PublishAsync("", broker.Topology.JournalStream, e.ToByteArray(), new BasicProperties { Type = e.EventCase.ToString() }, ct);
    }

    /// <summary>
    /// Appends a takeover marker, then applies every entry from the start of the stream up to and including that
    /// marker to <paramref name="state"/>. Returns the number of entries read. An entry that does not parse is logged
    /// and skipped.
    /// </summary>
    public async Task<int> TakeOverAsync(string nodeId, CoordinatorState state, CancellationToken ct = default)
    {
        var markerId = Guid.NewGuid().ToString("N");
        await AppendAsync(new CoordinatorEvent { Takeover = new TakeoverMarker { NodeId = nodeId, MarkerId = markerId } }, ct).ConfigureAwait(false);

        var channel = await broker.CreateConsumerChannelAsync(1000, ct).ConfigureAwait(false);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var read = 0;
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += async (_, ea) =>
        {
            if (done.Task.IsCompleted) return;
            read++;
            try
            {
                var e = CoordinatorEvent.Parser.ParseFrom(ea.Body.Span);
                if (!state.Apply(e)) ClusterLog.FencedEvent(log, e.Epoch, state.Epoch);
                if (e.EventCase == CoordinatorEvent.EventOneofCase.Takeover && e.Takeover.MarkerId == markerId) done.TrySetResult();
            }
            catch (InvalidProtocolBufferException ex)
            {
                ClusterLog.DeadLettered(log, broker.Topology.JournalStream, ea.BasicProperties.MessageId ?? "", $"journal entry {read} skipped: {ex.Message}");
            }
            await channel.BasicAckAsync(ea.DeliveryTag, multiple: false).ConfigureAwait(false); // a stream needs acks for flow control
        };
        using var stop = ct.Register(() => done.TrySetCanceled(ct));
        var tag = await channel.BasicConsumeAsync(broker.Topology.JournalStream, autoAck: false, consumerTag: "", noLocal: false, exclusive: false,
            new Dictionary<string, object?> { ["x-stream-offset"] = "first" }, consumer, ct).ConfigureAwait(false);
        try
        {
            await done.Task.ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await channel.BasicCancelAsync(tag).ConfigureAwait(false);
                await channel.CloseAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException)
            {
                // The connection went away while replaying; the caller sees its own failure.
            }
            channel.Dispose();
        }
        return read;
    }
}
