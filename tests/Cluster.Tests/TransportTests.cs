using System.Collections.Concurrent;
using Google.Protobuf;
using Offload.Actors.Cluster;
using Offload.Coordinator.Cluster;
using Offload.Protocol.Cluster;
using RabbitMQ.Client;

namespace Offload.Cluster.Tests;

[Collection(BrokerCollection.Name)]
public sealed class TransportTests(BrokerFixture fixture)
{
    private const string EntityType = "probe";

    [Fact]
    public async Task Malformed_unknown_and_misaddressed_messages_are_dead_lettered_with_a_reason_and_good_ones_around_them_are_handled()
    {
        var settings = TestCluster.Settings(fixture.Broker);
        await using var broker = await BrokerConnection.ConnectAsync(settings, "dlq-test");
        var topology = broker.Topology;
        const int shard = 3;
        var queue = topology.ShardQueue(EntityType, shard);
        await broker.DeclareAsync(ch => topology.DeclareShardAsync(ch, EntityType, shard));
        var entity = EntityInShard(shard, settings.ShardCount);

        // 50 good messages with 100 bad ones around them: 20 of each kind, interleaved.
        var injected = new List<(string Kind, string Id)>();
        var good = new List<string>();
        var random = new Random(7);
        for (var i = 0; i < 150; i++)
        {
            var kind = (i % 3 == 0) ? "good" : ((i / 3 * 2 + i % 3 - 1) % 5) switch
            {
                0 => "garbage",
                1 => "no-id",
                2 => "unknown-type",
                3 => "bad-payload",
                _ => "misaddressed",
            };
            var id = $"m{i:D3}";
            byte[] body;
            switch (kind)
            {
                case "good":
                    body = Good(entity, id, settings).ToByteArray();
                    good.Add(id);
                    break;
                case "garbage":
                    body = new byte[17 + i];
                    random.NextBytes(body);
                    body[0] = 0xFF; // field 31, wire type 7: never a valid protobuf tag
                    break;
                case "no-id":
                    var e1 = Good(entity, id, settings);
                    e1.MessageId = "";
                    body = e1.ToByteArray();
                    break;
                case "unknown-type":
                    var e2 = Good(entity, id, settings);
                    e2.Type = "offload.cluster.NoSuchMessage";
                    body = e2.ToByteArray();
                    break;
                case "bad-payload":
                    var e3 = Good(entity, id, settings);
                    e3.Payload = ByteString.CopyFrom(0xFF, 0xFF, 0xFF);
                    body = e3.ToByteArray();
                    break;
                default:
                    var e4 = Good(EntityInShard(shard + 1, settings.ShardCount), id, settings);
                    e4.ShardId = shard; // claims this shard, but its entity hashes elsewhere
                    body = e4.ToByteArray();
                    break;
            }
            if (kind != "good") injected.Add((kind, id));
            await broker.PublishAsync("", queue, body, new BasicProperties { MessageId = id });
        }
        Assert.Equal(100, injected.Count);
        Assert.All(new[] { "garbage", "no-id", "unknown-type", "bad-payload", "misaddressed" }, k => Assert.Equal(20, injected.Count(x => x.Kind == k)));

        var handled = new ConcurrentQueue<string>();
        await using (var consumer = await QueueConsumer.StartAsync(broker, queue, 16, ClusterMessageTypes.Protocol, new ProcessedMessageIds(1000),
            m => { handled.Enqueue(m.Envelope.MessageId); return Task.CompletedTask; },
            m => EnvelopeCodec.CheckShardAddress(m.Envelope, EntityType, shard, settings.ShardCount)))
        {
            Assert.True(await TestCluster.WaitUntilAsync(() => handled.Count == 50, TimeSpan.FromSeconds(30)), $"handled {handled.Count} of 50");
            Assert.True(await TestCluster.WaitUntilAsync(() => MessageCount(topology.DeadLetterQueue).Result == 100 && consumer.InFlight == 0, TimeSpan.FromSeconds(30)));
        }
        Assert.Equal(good, handled.ToArray()); // in queue order, each once

        var dead = await TestCluster.DrainAsync(fixture.Broker, topology.DeadLetterQueue);
        var byId = dead.Where(d => d.BasicProperties.MessageId?.StartsWith('m') == true && d.BasicProperties.MessageId.Length == 4)
            .ToDictionary(d => d.BasicProperties.MessageId!);
        Assert.Equal(100, byId.Count);
        foreach (var (kind, id) in injected)
        {
            var reason = TestCluster.Header(byId[id].BasicProperties, ClusterTopology.ReasonHeader);
            Assert.False(string.IsNullOrWhiteSpace(reason), $"{id} ({kind}) has no reason");
            var expected = kind switch
            {
                "garbage" => "is not a ClusterEnvelope",
                "no-id" => "has no message_id",
                "unknown-type" => "unknown message type 'offload.cluster.NoSuchMessage'",
                "bad-payload" => "is not a valid offload.cluster.Heartbeat",
                _ => "misaddressed",
            };
            Assert.Contains(expected, reason);
            Assert.Equal(queue, TestCluster.Header(byId[id].BasicProperties, ClusterTopology.SourceQueueHeader));
        }
        Assert.Empty(await TestCluster.DrainAsync(fixture.Broker, queue));
    }

    [Fact]
    public async Task A_redelivery_of_a_handled_message_is_acknowledged_without_running_the_handler_again()
    {
        var settings = TestCluster.Settings(fixture.Broker);
        await using var broker = await BrokerConnection.ConnectAsync(settings, "redelivery-test");
        var queue = broker.Topology.ShardQueue(EntityType, 0);
        await broker.DeclareAsync(ch => broker.Topology.DeclareShardAsync(ch, EntityType, 0));
        var processed = new ProcessedMessageIds(100);
        var envelope = Good(EntityInShard(0, settings.ShardCount), "once", settings);

        // The first consumer's handler finishes only after its channel is gone: the ack is lost, the broker redelivers.
        var started = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var effects = 0;
        var first = await QueueConsumer.StartAsync(broker, queue, 1, ClusterMessageTypes.Protocol, processed, async m =>
        {
            started.TrySetResult();
            await release.Task;
            Interlocked.Increment(ref effects);
        });
        await broker.PublishAsync("", queue, envelope.ToByteArray(), new BasicProperties());
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await first.StopAsync(TimeSpan.Zero);
        release.SetResult();
        Assert.True(await TestCluster.WaitUntilAsync(() => processed.Contains("once"), TimeSpan.FromSeconds(10)));

        var redelivered = new TaskCompletionSource<bool>();
        var secondRuns = 0;
        await using var second = await QueueConsumer.StartAsync(broker, queue, 1, ClusterMessageTypes.Protocol, processed, m =>
        {
            Interlocked.Increment(ref secondRuns);
            return Task.CompletedTask;
        });
        // The same message id published again (a producer's retry after a lost confirm) is a duplicate too.
        await broker.PublishAsync("", queue, envelope.ToByteArray(), new BasicProperties());
        Assert.True(await TestCluster.WaitUntilAsync(() => MessageCount(queue).Result == 0 && second.InFlight == 0, TimeSpan.FromSeconds(10)));
        Assert.Equal(1, effects);
        Assert.Equal(0, secondRuns);
    }

    [Fact]
    public async Task A_broker_restart_mid_stream_loses_no_confirmed_message()
    {
        await using var own = await LocalBroker.StartNewAsync();
        var settings = TestCluster.Settings(own);
        await using var producer = await BrokerConnection.ConnectAsync(settings, "restart-producer");
        await using var consumerConnection = await BrokerConnection.ConnectAsync(settings with { NodeId = "n2" }, "restart-consumer");
        var queue = producer.Topology.ShardQueue(EntityType, 1);
        await producer.DeclareAsync(ch => producer.Topology.DeclareShardAsync(ch, EntityType, 1));
        var entity = EntityInShard(1, settings.ShardCount);
        var effects = new ConcurrentDictionary<string, int>();
        await using var consumer = await QueueConsumer.StartAsync(consumerConnection, queue, 8, ClusterMessageTypes.Protocol, new ProcessedMessageIds(1000), m =>
        {
            effects.AddOrUpdate(m.Envelope.MessageId, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        });

        const int total = 200;
        var confirmed = new List<string>();
        Task? restart = null;
        for (var i = 0; i < total; i++)
        {
            var id = $"r{i:D3}";
            if (i == total / 2)
            {
                restart = Task.Run(async () =>
                {
                    await own.StopAsync();
                    await Task.Delay(500);
                    await own.StartAsync();
                });
                await Task.Delay(200); // the stop is under way: the next publishes wait and retry
            }
            await producer.PublishAsync("", queue, Good(entity, id, settings).ToByteArray(), new BasicProperties());
            confirmed.Add(id);
        }
        await restart!;
        Assert.True(await TestCluster.WaitUntilAsync(() => confirmed.All(effects.ContainsKey), TimeSpan.FromSeconds(60)),
            $"missing after the restart: {string.Join(", ", confirmed.Where(id => !effects.ContainsKey(id)).Take(10))}");
        Assert.Equal(total, confirmed.Count);
        Assert.Equal(confirmed.OrderBy(x => x), effects.Keys.OrderBy(x => x));
    }

    private async Task<uint> MessageCount(string queue)
    {
        var factory = new ConnectionFactory { Uri = fixture.Broker.AmqpUri };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return await channel.MessageCountAsync(queue);
    }

    private static ClusterEnvelope Good(string entity, string id, ClusterSettings settings) =>
        EnvelopeCodec.WrapForEntity(new Heartbeat { NodeId = "x", Sequence = 1 }, EntityType, entity, settings.ShardCount, "test", messageId: id);

    /// <summary>An entity id whose shard is <paramref name="shard"/> (found by trying ids in order).</summary>
    private static string EntityInShard(int shard, int shardCount)
    {
        for (var i = 0; ; i++)
        {
            var id = $"e{i}";
            if (Offload.Actors.Sharding.ShardHash.ShardOf(new Offload.Protocol.EntityId(id), shardCount).Value == shard % shardCount) return id;
        }
    }
}
