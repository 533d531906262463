using System.Net;
using System.Net.Sockets;
using System.Text;
using Offload.Coordinator.Cluster;
using RabbitMQ.Client;

namespace Offload.Cluster.Tests;

public sealed class LocalBrokerTests
{
    [Fact]
    public async Task A_persistent_message_in_a_durable_queue_survives_a_broker_restart_and_dispose_cleans_up()
    {
        var broker = await LocalBroker.StartNewAsync();
        var dir = broker.Dir;
        var port = broker.AmqpPort;
        try
        {
            Assert.True(Directory.Exists(Path.Combine(dir, "mnesia")));
            var factory = new ConnectionFactory { Uri = broker.AmqpUri };
            await using (var connection = await factory.CreateConnectionAsync())
            await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
            {
                await channel.QueueDeclareAsync("survivor", durable: true, exclusive: false, autoDelete: false);
                await channel.BasicPublishAsync("", "survivor", mandatory: true, new BasicProperties { Persistent = true }, Encoding.UTF8.GetBytes("kept"));
            }

            await broker.StopAsync();
            Assert.False(broker.IsRunning);
            Assert.False(Listening(port));
            await broker.StartAsync();

            await using (var connection = await factory.CreateConnectionAsync())
            await using (var channel = await connection.CreateChannelAsync())
            {
                var got = await channel.BasicGetAsync("survivor", autoAck: true);
                Assert.NotNull(got);
                Assert.Equal("kept", Encoding.UTF8.GetString(got.Body.Span));
            }
        }
        finally
        {
            await broker.DisposeAsync();
        }
        Assert.False(Directory.Exists(dir));
        Assert.False(Listening(port));
        Assert.False(Listening(broker.EpmdPort));
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
