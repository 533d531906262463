using BenchmarkDotNet.Attributes;
using Offload.Actors;

namespace Offload.Bench;

/// <summary>
/// Tell throughput to one actor: one sender posts <see cref="Messages"/> messages, the actor counts them and signals
/// when the last has been processed. Time per operation is time per message; messages/s = 1e9 / (ns per op).
/// Run: <c>dotnet run -c Release --project bench/Offload.Bench -- --filter '*ActorBenchmarks*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class ActorBenchmarks
{
    private const int Messages = 1_000_000;
    private static readonly object Ping = new();

    private ActorSystem _system = null!;
    private IActorRef _counter = null!;
    private Counter.Round _round = null!;

    [GlobalSetup]
    public void Setup()
    {
        _system = ActorSystem.Create("bench");
        _round = new Counter.Round(Messages);
        _counter = _system.ActorOf(Props.Create(() => new Counter(_round)), "counter");
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

    [Benchmark(OperationsPerInvoke = Messages)]
    public void Tell_to_one_actor()
    {
        _round.Done.Reset();
        var counter = _counter;
        for (var i = 0; i < Messages; i++) counter.Tell(Ping);
        if (!_round.Done.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the actor did not process the round within 60 s");
    }

    private sealed class Counter(Counter.Round round) : ActorBase
    {
        private int _count;

        protected override bool Receive(object message)
        {
            if (++_count == round.Target)
            {
                _count = 0;
                round.Done.Set();
            }
            return true;
        }

        public sealed class Round(int target)
        {
            public int Target { get; } = target;
            public ManualResetEventSlim Done { get; } = new();
        }
    }
}
