using Offload.Actors.Internal;

namespace Offload.Actors;

/// <summary>
/// How a parent treats a child that threw. The parent logs every failure with its reason (unless
/// <see cref="LoggingEnabled"/> is off) and applies the <see cref="Directive"/> its decider returns.
/// </summary>
public abstract class SupervisorStrategy
{
    private protected SupervisorStrategy(bool loggingEnabled) => LoggingEnabled = loggingEnabled;

    /// <summary>Whether failures are logged at Error level with the exception.</summary>
    public bool LoggingEnabled { get; }

    /// <summary>Akka's default: stop on initialization failure, <see cref="Kill"/> and unhandled Terminated; restart
    /// on every other exception.</summary>
    public static Directive DefaultDecider(Exception cause) => cause switch
    {
        ActorInitializationException => Directive.Stop,
        ActorKilledException => Directive.Stop,
        DeathPactException => Directive.Stop,
        _ => Directive.Restart,
    };

    /// <summary>One-for-one with <see cref="DefaultDecider"/> and no restart limit.</summary>
    public static SupervisorStrategy Default { get; } = new OneForOneStrategy(DefaultDecider);

    /// <summary>Stops any child that fails.</summary>
    public static SupervisorStrategy Stopping { get; } = new OneForOneStrategy(_ => Directive.Stop);

    internal abstract Directive Handle(Exception cause, ChildRestartStats stats, DateTimeOffset now);
}
