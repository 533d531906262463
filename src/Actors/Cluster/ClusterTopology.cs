using System.Globalization;
using RabbitMQ.Client;

namespace Offload.Actors.Cluster;

/// <summary>
/// Names and arguments of the broker objects of one cluster. All names start with the cluster name.
/// <code>
///  {c}.coordinator            durable, single-active-consumer: every coordinator-role node consumes it; the broker
///                             keeps one consumer active — that node is the coordinator singleton
///  {c}.journal                stream: the coordinator's event journal, replayed by whichever node takes over
///  {c}.node.{id}              durable, expires after the node is gone: replies and coordinator commands to one node
///  {c}.shard.{type}.{n}       durable, single-active-consumer: the mailbox of shard n of an entity type; consumed by
///                             the node the shard is allocated to
///  {c}.dlx → {c}.dead-letters fanout exchange and durable queue of dead-lettered messages (header x-offload-reason)
/// </code>
/// Durable queues are quorum queues or classic durable queues (<see cref="ClusterSettings.EffectiveQueueType"/>).
/// </summary>
public sealed class ClusterTopology
{
    /// <summary>Header of a dead-lettered message: why it was dead-lettered.</summary>
    public const string ReasonHeader = "x-offload-reason";

    /// <summary>Header of a dead-lettered message: the queue it came from.</summary>
    public const string SourceQueueHeader = "x-offload-source-queue";

    /// <summary>Header of a dead-lettered message: the node that dead-lettered it.</summary>
    public const string NodeHeader = "x-offload-node";

    private readonly ClusterSettings _settings;

    public ClusterTopology(ClusterSettings settings)
    {
        _settings = settings;
        Prefix = settings.ClusterName;
    }

    public string Prefix { get; }

    public string CoordinatorQueue => Prefix + ".coordinator";

    public string JournalStream => Prefix + ".journal";

    public string DeadLetterExchange => Prefix + ".dlx";

    public string DeadLetterQueue => Prefix + ".dead-letters";

    public string NodeQueue(string nodeId) => $"{Prefix}.node.{nodeId}";

    public string ShardQueue(string entityType, int shard) =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix}.shard.{entityType}.{shard}");

    /// <summary>Declares the dead-letter exchange and queue, the coordinator queue and the journal stream.</summary>
    public async Task DeclareCommonAsync(IChannel channel, CancellationToken ct = default)
    {
        await channel.ExchangeDeclareAsync(DeadLetterExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: ct).ConfigureAwait(false);
        await channel.QueueDeclareAsync(DeadLetterQueue, durable: true, exclusive: false, autoDelete: false, DurableArgs(singleActive: false, deadLetter: false), cancellationToken: ct).ConfigureAwait(false);
        await channel.QueueBindAsync(DeadLetterQueue, DeadLetterExchange, "", cancellationToken: ct).ConfigureAwait(false);
        await channel.QueueDeclareAsync(CoordinatorQueue, durable: true, exclusive: false, autoDelete: false, DurableArgs(singleActive: true, deadLetter: true), cancellationToken: ct).ConfigureAwait(false);
        await channel.QueueDeclareAsync(JournalStream, durable: true, exclusive: false, autoDelete: false,
            new Dictionary<string, object?> { ["x-queue-type"] = "stream" }, cancellationToken: ct).ConfigureAwait(false);
    }

    /// <summary>Declares the mailbox queue of one shard.</summary>
    public Task DeclareShardAsync(IChannel channel, string entityType, int shard, CancellationToken ct = default) =>
        channel.QueueDeclareAsync(ShardQueue(entityType, shard), durable: true, exclusive: false, autoDelete: false,
            DurableArgs(singleActive: true, deadLetter: true), cancellationToken: ct);

    /// <summary>Declares a node's own queue (durable, deleted by the broker after <see cref="ClusterSettings.NodeQueueExpiry"/> unused).</summary>
    public Task DeclareNodeAsync(IChannel channel, string nodeId, CancellationToken ct = default)
    {
        // Quorum queues support x-expires too; the node queue stays classic: it is one node's inbox, not shared state.
        var args = new Dictionary<string, object?>
        {
            ["x-queue-type"] = "classic",
            ["x-expires"] = (long)_settings.NodeQueueExpiry.TotalMilliseconds,
            ["x-dead-letter-exchange"] = DeadLetterExchange,
        };
        return channel.QueueDeclareAsync(NodeQueue(nodeId), durable: true, exclusive: false, autoDelete: false, args, cancellationToken: ct);
    }

    private Dictionary<string, object?> DurableArgs(bool singleActive, bool deadLetter)
    {
        var args = new Dictionary<string, object?>
        {
            ["x-queue-type"] = _settings.EffectiveQueueType == QueueKind.Quorum ? "quorum" : "classic",
        };
        if (singleActive) args["x-single-active-consumer"] = true;
        if (deadLetter) args["x-dead-letter-exchange"] = DeadLetterExchange;
        return args;
    }
}
