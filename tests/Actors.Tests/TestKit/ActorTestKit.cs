using Microsoft.Extensions.Logging;
using Xunit;

namespace Offload.Actors.Tests.TestKit;

/// <summary>
/// One actor system per test, on a <see cref="ManualTimeProvider"/>, with every log line captured.
/// <para>Determinism without sleeps: <see cref="Settle"/> waits (real time, bounded) until the system has no queued
/// or running message; <see cref="Advance"/> moves the manual clock timer by timer and settles after each, so a
/// timer started by a message that an earlier timer caused still fires within the same advance.</para>
/// </summary>
public sealed class ActorTestKit : IDisposable
{
    /// <summary>Real-time bound for anything asynchronous to happen (a safety net, never a sleep).</summary>
    public static readonly TimeSpan SafetyTimeout = TimeSpan.FromSeconds(5);

    private static int s_systems;
    private int _probes;

    public ActorTestKit(Func<ActorSystemOptions, ActorSystemOptions>? configure = null)
    {
        Clock = new ManualTimeProvider();
        Logs = new ListLoggerProvider();
        LoggerFactory = Microsoft.Extensions.Logging.LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        var options = new ActorSystemOptions { TimeProvider = Clock, LoggerFactory = LoggerFactory };
        if (configure is not null) options = configure(options);
        System = ActorSystem.Create($"test{Interlocked.Increment(ref s_systems)}", options);
    }

    public ManualTimeProvider Clock { get; }

    public ListLoggerProvider Logs { get; }

    public ILoggerFactory LoggerFactory { get; }

    public ActorSystem System { get; }

    public TestProbe CreateTestProbe(string? name = null) =>
        new(this, name ?? $"probe{Interlocked.Increment(ref _probes)}");

    /// <summary>Waits until no message is queued or being processed; fails the test after <see cref="SafetyTimeout"/>.</summary>
    public void Settle()
    {
        Assert.True(System.WaitForIdle(SafetyTimeout), $"actor system {System.Name} did not become idle within {SafetyTimeout.TotalSeconds} s");
    }

    /// <summary>Moves the manual clock by <paramref name="by"/>, firing due timers one by one and settling after each.</summary>
    public void Advance(TimeSpan by)
    {
        Settle();
        var until = Clock.GetUtcNow() + by;
        while (Clock.FireNext(until)) Settle();
        Clock.SetNow(until);
        Settle();
    }

    public void Dispose()
    {
        System.Terminate().Wait(SafetyTimeout);
        LoggerFactory.Dispose();
    }
}
