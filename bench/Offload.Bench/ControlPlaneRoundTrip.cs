using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using Offload.Protocol.Messages;
using Offload.Runtime;

namespace Offload.Bench;

/// <summary>
/// Control-plane round trip on the Akka.NET runtime between two processes on loopback. This process starts the first
/// node (<see cref="OffloadRuntime"/>, role "driver", in-memory journal) and launches a second process of this program
/// (<c>control-plane-serve &lt;seed-port&gt;</c>) that joins it with role "worker" and hosts the shard region "echo"
/// and a cluster singleton, both answering <see cref="RunLayer"/> with <see cref="LayerDone"/> (MessagePack records,
/// so serialization is part of every round trip). The driver asks through a shard-region proxy and a singleton proxy,
/// one ask in flight at a time, and prints p50 / p99 / max of the latency; then the worker leaves the cluster and exits.
/// `dotnet run -c Release --project bench/Offload.Bench -- control-plane [asks=2000]`
/// </summary>
public static class ControlPlaneRoundTrip
{
    private const string EntityType = "echo";
    private const string WorkerRole = "worker";
    private const string SingletonName = "echo-singleton";
    private const string ReadyLine = "ready";
    private const int EntityIds = 8;
    private const int WarmUpAsks = 200;
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Entity "layer-&lt;l&gt;" per RunLayer (layer 0–7 in this bench), 8 shards; the message itself goes to the entity.</summary>
    private static readonly IMessageExtractor Extractor = HashCodeMessageExtractor.Create(
        EntityIds, m => m is RunLayer r ? "layer-" + r.Layer.ToString(CultureInfo.InvariantCulture) : null!, m => m);

    /// <summary>The echo entity / singleton: answers RunLayer with LayerDone naming this node, outputs = the inputs.</summary>
    private sealed class Echo : ReceiveActor
    {
        public Echo()
        {
            var node = Cluster.Get(Context.System).SelfAddress.ToString();
            Receive<RunLayer>(r => Sender.Tell(new LayerDone(r.Spec.JobId, r.Layer, r.Attempt, node, r.Inputs, [], 0.0, []), Self));
        }
    }

    /// <summary>A realistically sized RunLayer: a full JobSpec and two input handles (what the driver sends per layer).</summary>
    private static RunLayer Message(int layer) => new(
        new JobSpec("bench-job", "compress", "/models/llama-3.2-1b", "", 2048, 4, 16, 2, "sha256:0123456789abcdef0123456789abcdef",
            "akka.tcp://offload@127.0.0.1:1", "akka.tcp://offload@127.0.0.1:1/user/driver", "/state/bench-job", false, false,
            "/jobs/bench-job", "/jobs/bench-job/journal/windows.i32", new string('0', 64), 8L << 30, 8L << 30, false),
        layer, 1,
        [
            new TensorRef($"bench-job/layer-{layer}/in/batch-0", "http://127.0.0.1:7101/t/bench-job/in/0", "x", "F32", [4, 2048, 2048], 4L * 2048 * 2048 * 4, "crc32c/4194304:" + new string('0', 8 * 16)),
            new TensorRef($"bench-job/layer-{layer}/in/batch-1", "http://127.0.0.1:7101/t/bench-job/in/1", "x", "F32", [4, 2048, 2048], 4L * 2048 * 2048 * 4, "crc32c/4194304:" + new string('0', 8 * 16)),
        ]);

    public static async Task RunAsync(int asks)
    {
        var driver = await OffloadRuntime.StartAsync(new RuntimeSettings { Roles = ["driver"], InMemoryJournal = true });
        Process? serve = null;
        try
        {
            serve = StartServeProcess(driver.Port);
            var ready = await serve.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (ready != ReadyLine) throw new InvalidOperationException($"the serve process printed '{ready}' instead of '{ReadyLine}'");
            var worker = driver.Cluster.State.Members.FirstOrDefault(m => m.HasRole(WorkerRole) && m.Status == MemberStatus.Up);
            Console.WriteLine($"driver {driver.SelfAddress} (pid {Environment.ProcessId}), worker {worker?.Address.ToString() ?? "(not Up yet in the driver's view)"} (pid {serve.Id})");

            var region = await ClusterSharding.Get(driver.System).StartProxyAsync(EntityType, WorkerRole, Extractor);
            var messages = Enumerable.Range(0, EntityIds).Select(Message).ToArray();
            for (var i = 0; i < WarmUpAsks; i++) await AskAsync(region, messages[i % EntityIds]); // shards allocated, entities started
            var entity = new double[asks];
            for (var i = 0; i < asks; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await AskAsync(region, messages[i % EntityIds]);
                entity[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
            Report($"entity ask (driver → shard region → entity on another process → reply), {asks} sequential", entity);

            var singleton = driver.System.ActorOf(ClusterSingletonProxy.Props("/user/" + SingletonName,
                ClusterSingletonProxySettings.Create(driver.System).WithRole(WorkerRole)), SingletonName + "-proxy");
            for (var i = 0; i < WarmUpAsks; i++) await AskAsync(singleton, messages[i % EntityIds]);
            var single = new double[asks];
            for (var i = 0; i < asks; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await AskAsync(singleton, messages[i % EntityIds]);
                single[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
            Report($"singleton ask (driver → singleton proxy → singleton on another process → reply), {asks} sequential", single);

            var clock = Stopwatch.StartNew();
            var exit = await StopServeProcessAsync(driver, serve);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"worker left the cluster and exited with code {exit} in {clock.Elapsed.TotalSeconds:F2} s"));
        }
        finally
        {
            if (serve is { HasExited: false })
            {
                serve.Kill(entireProcessTree: true);
                await serve.WaitForExitAsync();
            }
            serve?.Dispose();
            await driver.DisposeAsync();
        }
    }

    private static async Task AskAsync(IActorRef target, RunLayer message)
    {
        var done = await target.Ask<LayerDone>(message, AskTimeout);
        if (done.Layer != message.Layer || done.Outputs.Count != message.Inputs.Count)
            throw new InvalidOperationException($"asked layer {message.Layer}, answered layer {done.Layer} with {done.Outputs.Count} outputs");
    }

    /// <summary>Launches this program as <c>control-plane-serve &lt;port&gt;</c>; its stdout gives the ready line, closing its stdin makes it leave.</summary>
    private static Process StartServeProcess(int seedPort)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path to start the serve process from");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(ControlPlaneRoundTrip).Assembly.Location);
        psi.ArgumentList.Add("control-plane-serve");
        psi.ArgumentList.Add(seedPort.ToString(CultureInfo.InvariantCulture));
        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {self}");
    }

    /// <summary>Closes the worker's stdin (it leaves the cluster: shards handed off, singleton stopped), waits until the
    /// driver sees it Removed and the process has exited; returns its exit code.</summary>
    private static async Task<int> StopServeProcessAsync(OffloadRuntime driver, Process serve)
    {
        var worker = driver.Cluster.State.Members.FirstOrDefault(m => m.HasRole(WorkerRole))?.Address;
        serve.StandardInput.Close();
        await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (worker is not null && driver.Cluster.State.Members.Any(m => m.Address == worker))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the driver still lists {worker} 10 s after the worker exited");
            await Task.Delay(20);
        }
        return serve.ExitCode;
    }

    /// <summary>
    /// The worker process: joins the driver's cluster at <paramref name="seedPort"/> with role "worker", hosts the shard
    /// region "echo" and the singleton, prints the ready line, and leaves the cluster when its stdin closes.
    /// </summary>
    public static async Task ServeAsync(int seedPort)
    {
        var node = await OffloadRuntime.StartAsync(new RuntimeSettings
        {
            SeedNodes = [$"akka.tcp://offload@127.0.0.1:{seedPort.ToString(CultureInfo.InvariantCulture)}"],
            Roles = [WorkerRole],
            InMemoryJournal = true,
        });
        try
        {
            var system = node.System;
            await ClusterSharding.Get(system).StartAsync(EntityType, Props.Create(() => new Echo()),
                ClusterShardingSettings.Create(system).WithRole(WorkerRole), Extractor);
            system.ActorOf(ClusterSingletonManager.Props(Props.Create(() => new Echo()), PoisonPill.Instance,
                ClusterSingletonManagerSettings.Create(system).WithRole(WorkerRole)), SingletonName);
            Console.WriteLine(ReadyLine);
            Console.Out.Flush();
            // Until the driver closes our stdin (or the system stops on its own, e.g. downed).
            await Task.WhenAny(Console.In.ReadToEndAsync(), system.WhenTerminated);
        }
        finally
        {
            await node.DisposeAsync(); // coordinated shutdown with the cluster-leaving reason
        }
    }

    private static void Report(string what, double[] ms)
    {
        Array.Sort(ms);
        double P(double q) => ms[Math.Min(ms.Length - 1, (int)Math.Ceiling(q * ms.Length) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: p50 {P(0.50):F2} ms, p99 {P(0.99):F2} ms, max {ms[^1]:F2} ms"));
    }
}
