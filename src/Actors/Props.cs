namespace Offload.Actors;

/// <summary>
/// The recipe for an actor: a factory called for the first instance and again on every restart, plus the strategy the
/// actor applies to its own children. Immutable; copy with <c>With*</c>.
/// </summary>
public sealed record Props
{
    private Props(Type actorType, Func<ActorBase> factory, SupervisorStrategy? supervisorStrategy)
    {
        ActorType = actorType;
        Factory = factory;
        SupervisorStrategy = supervisorStrategy;
    }

    public Type ActorType { get; }

    /// <summary>Creates a fresh instance; must return a new object on every call (restarts call it again).</summary>
    public Func<ActorBase> Factory { get; }

    /// <summary>Strategy for this actor's children; null = the actor's own override or <see cref="Actors.SupervisorStrategy.Default"/>.</summary>
    public SupervisorStrategy? SupervisorStrategy { get; init; }

    public static Props Create<T>(Func<T> factory) where T : ActorBase
    {
        ArgumentNullException.ThrowIfNull(factory);
        return new Props(typeof(T), factory, null);
    }

    public static Props Create<T>() where T : ActorBase, new() => new(typeof(T), static () => new T(), null);

    public Props WithSupervisorStrategy(SupervisorStrategy strategy) => this with { SupervisorStrategy = strategy };
}
