using Akka.Actor;
using BenchmarkDotNet.Attributes;
using Offload.Runtime;

namespace Offload.Bench;

/// <summary>
/// Tell throughput to one Akka.NET actor: one sender posts <see cref="Messages"/> messages, a <see cref="ReceiveActor"/>
/// counts them and signals when the last has been processed. The system is the runtime's local one
/// (<see cref="LocalActorSystem.Create"/>: the default mailbox is the metered one every node uses).
/// Time per operation is time per message; messages/s = 1e9 / (ns per op).
/// Run: <c>dotnet run -c Release --project bench/Offload.Bench -- --filter '*ActorBenchmarks*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class ActorBenchmarks
{
    private const int Messages = 1_000_000;

    private ActorSystem _system = null!;
    private IActorRef _counter = null!;
    private Counter.Round _round = null!;

    [GlobalSetup]
    public void Setup()
    {
        _system = LocalActorSystem.Create("bench");
        var round = _round = new Counter.Round(Messages);
        _counter = _system.ActorOf(Props.Create(() => new Counter(round)), "counter");
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

    [Benchmark(OperationsPerInvoke = Messages)]
    public void Tell_to_one_actor()
    {
        _round.Done.Reset();
        var counter = _counter;
        var ping = Counter.Ping.Instance;
        for (var i = 0; i < Messages; i++) counter.Tell(ping, ActorRefs.NoSender);
        if (!_round.Done.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the actor did not process the round within 60 s");
    }

    private sealed class Counter : ReceiveActor
    {
        private int _count;

        public Counter(Round round) => Receive<Ping>(_ =>
        {
            if (++_count == round.Target)
            {
                _count = 0;
                round.Done.Set();
            }
        });

        public sealed class Ping
        {
            public static readonly Ping Instance = new();
            private Ping() { }
        }

        public sealed class Round(int target)
        {
            public int Target { get; } = target;
            public ManualResetEventSlim Done { get; } = new();
        }
    }
}
