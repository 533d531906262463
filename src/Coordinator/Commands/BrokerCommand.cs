using System.CommandLine;
using System.Runtime.InteropServices;
using Offload.Coordinator.Cluster;

namespace Offload.Coordinator.Commands;

/// <summary>`offload broker --dir DIR --port 5672`: a private RabbitMQ node on loopback for the local cluster example
/// (Debian's rabbitmq-server, state in DIR); runs until Ctrl+C or SIGTERM, then stops the broker.</summary>
public static class BrokerCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "folder for the broker's database, logs and cookie (kept between runs)", Required = true };
        var port = new Option<int>("--port") { Description = "AMQP port on 127.0.0.1", DefaultValueFactory = _ => 5672 };
        var cmd = new Command("broker",
            "Run a private RabbitMQ broker on 127.0.0.1 for a local cluster (needs Debian's rabbitmq-server); Ctrl+C or SIGTERM stops it.")
        {
            dir, port,
        };
        cmd.WithExamples("offload broker --dir /tmp/offload-broker --port 5672");
        cmd.SetAction(async (parse, ct) =>
        {
            var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
            using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
            await using var broker = await LocalBroker.StartNewAsync(parse.GetValue(dir), parse.GetValue(port), ct: ct);
            Console.WriteLine($"broker {broker.NodeName} up: {broker.AmqpUri.GetLeftPart(UriPartial.Authority)} (state in {broker.Dir}); Ctrl+C stops it");
            await Task.WhenAny(stop.Task, Task.Delay(Timeout.Infinite, ct));
            await broker.StopAsync(CancellationToken.None);
            Console.WriteLine("broker stopped");
            return 0;
        });
        return cmd;
    }
}
