using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Offload.Actors;

/// <summary>Settings of an <see cref="ActorSystem"/>.</summary>
public sealed record ActorSystemOptions
{
    /// <summary>Default user messages one actor processes before it yields its thread.</summary>
    public const int DefaultThroughput = 100;

    /// <summary>The clock of every ask timeout, timer, receive timeout and passivation idle time. Tests pass a
    /// manual one and advance it; production uses <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>User messages an actor processes per turn before yielding its thread (fairness vs. throughput).
    /// Allowed range: [1, 1 000 000].</summary>
    public int Throughput { get; init; } = DefaultThroughput;

    /// <summary>Strategy of the /user guardian for top-level actors; null = <see cref="SupervisorStrategy.Default"/>.</summary>
    public SupervisorStrategy? GuardianSupervisorStrategy { get; init; }

    /// <summary>Whether dead letters are logged (they are always published on the event stream).</summary>
    public bool LogDeadLetters { get; init; } = true;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(TimeProvider, nameof(TimeProvider));
        ArgumentNullException.ThrowIfNull(LoggerFactory, nameof(LoggerFactory));
        if (Throughput is < 1 or > 1_000_000)
            throw new ArgumentOutOfRangeException(nameof(Throughput), Throughput, $"{nameof(Throughput)} must be in [1, 1000000]");
    }
}
